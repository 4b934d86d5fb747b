// Abstract-namespace Unix SOCK_SEQPACKET sockets for the intra-host export
// protocol: listen/connect by name, and whole-message send/receive with file
// descriptors attached (SCM_RIGHTS). Receives are bounded by SO_RCVTIMEO.
// Thread-compatible.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "kvc/common/status.h"

namespace kvc::transfer::internal {

// Listens on the abstract socket `name` (no leading NUL). Returns the fd.
[[nodiscard]] StatusOr<int> ListenUnix(const std::string& name);
// Connects to the abstract socket `name`; `timeout` becomes the fd's send/receive
// timeout. UNAVAILABLE when nobody listens.
[[nodiscard]] StatusOr<int> ConnectUnix(const std::string& name, std::chrono::milliseconds timeout);
// Sends one message of `length` bytes with `fds` attached.
[[nodiscard]] Status SendMessage(int fd, const void* data, uint64_t length,
                                 const std::vector<int>& fds = {});
// Receives one message into `data` (at most `capacity` bytes); returns its size.
// Attached fds are appended to *fds (or closed when fds is null). UNAVAILABLE
// when the peer closed, DEADLINE_EXCEEDED on the socket timeout.
[[nodiscard]] StatusOr<uint64_t> ReceiveMessage(int fd, void* data, uint64_t capacity,
                                                std::vector<int>* fds = nullptr);
// The uid of the process at the other end of `fd`, or -1.
int64_t PeerUid(int fd);

}  // namespace kvc::transfer::internal

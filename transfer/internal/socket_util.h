// Blocking TCP socket helpers with deadlines, used by the TCP backend, the TCP
// target and the peer-to-peer directory. Every wait is bounded by the socket's
// SO_RCVTIMEO/SO_SNDTIMEO, so no call can hang forever. Thread-compatible.
#pragma once

#include <sys/uio.h>

#include <chrono>
#include <cstdint>
#include <string>

#include "kvc/common/status.h"

namespace kvc::transfer::internal {

// Splits "host:port" (IPv4 literal or "localhost"). INVALID_ARGUMENT when malformed.
[[nodiscard]] Status ParseHostPort(const std::string& host_port, std::string* host, int* port);

// Connects to `host_port` within `timeout`; the socket gets TCP_NODELAY and
// `timeout` as its send/receive timeout. Returns the fd (caller closes it).
[[nodiscard]] StatusOr<int> ConnectTcp(const std::string& host_port,
                                       std::chrono::milliseconds timeout);

// Binds and listens on `host_port` (port 0 = any free port). Returns the fd and
// writes the bound port to *bound_port.
[[nodiscard]] StatusOr<int> ListenTcp(const std::string& host_port, int* bound_port);

// Sets the send/receive timeout of `fd`.
void SetSocketTimeout(int fd, std::chrono::milliseconds timeout);

// Writes every byte of `iov[0..count)` (modifies iov). UNAVAILABLE on error or
// closed peer; DEADLINE_EXCEEDED when the peer stops reading for the timeout.
[[nodiscard]] Status SendAll(int fd, struct iovec* iov, int count);
[[nodiscard]] Status SendAll(int fd, const void* data, uint64_t length);

// Reads exactly `length` bytes. UNAVAILABLE when the peer closed or on error;
// DEADLINE_EXCEEDED when nothing arrives for the socket timeout. With
// `idle_ok`, a timeout before the first byte returns CANCELLED-free code
// kIdle (see IsIdle) so callers can keep waiting on idle connections.
[[nodiscard]] Status RecvAll(int fd, void* data, uint64_t length, bool idle_ok = false);
// True when RecvAll gave up before reading a single byte (only with idle_ok).
bool IsIdle(const Status& status);

}  // namespace kvc::transfer::internal

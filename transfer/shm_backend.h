// The intra-host backend. Regions the target allocated with AllocateSharedMemory
// are mapped into this process once (the target hands out their memfd over its
// export socket after the cluster-token check; internal/shm_client.h) and copied
// with memcpy; every other region is copied with cross-memory attach
// (process_vm_readv/writev): one kernel copy, no network stack. Works only when both processes are
// on the same host (equal host ids and boot ids, internal/backend_choice.h) and the kernel lets
// this process access the target (same user; Yama ptrace_scope permitting).
//
// Safety: the target does not take part in a copy, so the bounds check happens
// on the initiator, against the region list of the descriptor the target served
// over the token-authenticated handshake; a pid reused by another process is
// detected by its start time. Unregistering on the target waits for mapped
// copies (control block) but not for cross-memory-attach copies
// (docs/transfer.md, "Known gaps"). Thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "transfer/internal/channel.h"
#include "transfer/internal/peer_log.h"

namespace kvc::transfer {

struct ShmBackendOptions {
  uint32_t threads_per_peer = 2;            // copy threads per peer
  std::string cluster_token;                // presented to the target's export socket
  std::chrono::milliseconds timeout{3000};  // export-socket handshake and requests
  std::string host_id;                      // this engine's host id (internal::SameHost)
  // Borrowed, must outlive the backend: the shared-mapping → cross-memory-attach
  // fallback is logged (warning) once per peer through it. nullptr = every time.
  internal::PeerLog* peer_log = nullptr;
};

std::unique_ptr<internal::Backend> MakeShmBackend(ShmBackendOptions options);

}  // namespace kvc::transfer

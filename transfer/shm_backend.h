// The intra-host backend: cross-memory attach (process_vm_readv/writev). The
// initiator copies straight between its memory and the target process's memory,
// one kernel copy, no network stack. Works only when both processes are on the
// same host (equal boot ids) and the kernel lets this process access the target
// (same user; Yama ptrace_scope permitting).
//
// Safety: the target does not take part in a copy, so the bounds check happens
// on the initiator, against the region list of the descriptor the target served
// over the token-authenticated handshake; a pid reused by another process is
// detected by its start time. Unregistering on the target does not wait for
// intra-host copies (docs/transfer.md, "Known gaps"). Thread-safe.
#pragma once

#include <memory>

#include "transfer/internal/channel.h"

namespace kvc::transfer {

struct ShmBackendOptions {
  uint32_t threads_per_peer = 2;  // copy threads per peer
};

std::unique_ptr<internal::Backend> MakeShmBackend(ShmBackendOptions options);

}  // namespace kvc::transfer

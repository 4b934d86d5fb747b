// The UCX backend: ucp RMA (put/get) against the remote regions' packed rkeys,
// endpoints created from the worker address carried in the segment descriptor.
// UCX picks the transport (UCX_TLS): RDMA verbs when a NIC exists, shared memory
// (sysv/posix/cma) on one host, TCP otherwise. A WRITE slice completes after an
// endpoint flush, i.e. once the bytes are in the target's memory.
//
// Bounds: the initiator checks each slice against the descriptor's regions and
// UCX checks it against the registered memory of the rkey; the target process
// does not see individual accesses (as with any RDMA). Thread-safe.
#pragma once

#include <memory>

#include "transfer/internal/channel.h"
#include "transfer/internal/ucx_context.h"

namespace kvc::transfer {

// `ucx` is this engine's context (shared with its target side).
std::unique_ptr<internal::Backend> MakeUcxBackend(std::shared_ptr<internal::UcxContext> ucx);

}  // namespace kvc::transfer

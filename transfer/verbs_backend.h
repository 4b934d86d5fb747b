// The RDMA verbs backend: RC queue pairs, one-sided RDMA READ / WRITE straight
// between registered memory of the two engines (docs/transfer.md, "Verbs
// backend"). The engine owns one internal::VerbsContext (its NICs, memory
// registrations and completion pollers) when an RDMA device can be opened; the
// backend opens one internal::VerbsPeer per remote segment. Without a device (the
// development machine) Open() reports UNAVAILABLE with the reason ("no RDMA
// device found", or "built without libibverbs"). Thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "kvc/common/status.h"
#include "kvc/transfer/verbs_probe.h"
#include "transfer/internal/channel.h"
#include "transfer/internal/topology.h"

namespace kvc::transfer {
namespace internal {
class VerbsContext;
}

struct VerbsBackendOptions {
  std::string cluster_token;                  // for the QP handshake on the target's TCP endpoint
  std::chrono::milliseconds timeout{3000};    // handshake I/O
  std::chrono::milliseconds path_down{1000};  // a failed path is skipped this long
  uint32_t qps_per_path = 2;                  // RC QPs between each pair of NICs
  internal::Topology local_topology;          // orders the local NICs per slice
};

// `context` may be null (no usable device): Open() then fails with
// `unavailable` (the reason the context could not be created).
std::unique_ptr<internal::Backend> MakeVerbsBackend(std::shared_ptr<internal::VerbsContext> context,
                                                    VerbsBackendOptions options,
                                                    Status unavailable);

}  // namespace kvc::transfer

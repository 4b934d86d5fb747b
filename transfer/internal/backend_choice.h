// Backend choice for `backend: auto`, as a pure function of what this engine
// can do and what the remote segment advertises (unit-tested).
#pragma once

#include <string>
#include <vector>

#include "kvc/transfer/segment.h"

namespace kvc::transfer::internal {

struct LocalCapabilities {
  std::string boot_id;  // this host's boot id
  bool verbs = false;   // this engine opened at least one RDMA device
};

// The backends to try, in order (the engine takes the first whose Open works):
// same host (equal, non-empty boot ids) → shm, then tcp; else verbs when this
// engine has a usable RDMA device AND the remote publishes verbs NICs and a TCP
// endpoint (for the QP handshake), then tcp; else tcp.
std::vector<std::string> ChooseBackends(const LocalCapabilities& local,
                                        const SegmentDescriptor& remote);

}  // namespace kvc::transfer::internal

// Backend choice for `backend: auto`, as a pure function of what this engine
// can do and what the remote segment advertises (unit-tested).
#pragma once

#include <string>
#include <vector>

#include "kvc/transfer/segment.h"

namespace kvc::transfer::internal {

struct LocalCapabilities {
  std::string host_id;  // this engine's host identity (transfer.host_id, default = boot id)
  std::string boot_id;  // this host's kernel boot id
  bool verbs = false;   // this engine opened an RDMA device AND its preflight passed
};

// Same host ⇔ equal, non-empty host ids AND equal, non-empty boot ids. The host
// id is the operator's statement of which processes share a host (network
// namespaces and containers share one kernel, hence one boot id, without sharing
// abstract sockets or pids); the boot id guards against a copied host id on
// another kernel, where cross-memory attach could never work.
bool SameHost(const std::string& host_id, const std::string& boot_id,
              const SegmentDescriptor& remote);

// The backends to try, in order (the engine takes the first whose Open works):
// same host (SameHost) → shm, then tcp; else verbs when this engine has a usable
// RDMA device AND the remote publishes verbs NICs and a TCP endpoint (for the QP
// handshake), then tcp; else tcp.
std::vector<std::string> ChooseBackends(const LocalCapabilities& local,
                                        const SegmentDescriptor& remote);

// Why ChooseBackends picked its first backend, for the per-peer log line
// ("same host id 'h1'", "host id 'h2' differs from ours 'h1'", ...).
std::string ChoiceReason(const LocalCapabilities& local, const SegmentDescriptor& remote);

}  // namespace kvc::transfer::internal

// Path choice of the verbs backend, as pure functions (unit-tested). A path is one
// RC queue pair: a local NIC, a remote NIC, and the index of the QP among the
// `qps_per_path` QPs kept between those two NICs. Thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kvc::transfer::internal {

struct VerbsPathId {
  size_t local_nic = 0;   // index into the local context's NICs
  size_t remote_nic = 0;  // index into the remote descriptor's verbs_nics
  size_t qp = 0;          // 0 .. qps_per_path-1
  bool operator==(const VerbsPathId&) const = default;
};

// The paths to try for one slice, best first: local NICs in `local_order`
// (outer), remote NICs in `remote_order`, then the QP indices rotated left by
// `rotation`. The caller takes the first path that is not down, so a path in
// error sends its slices to the next QP, then the next remote NIC, then the next
// (secondary) local NIC.
std::vector<VerbsPathId> OrderVerbsPaths(const std::vector<size_t>& local_order,
                                         const std::vector<size_t>& remote_order,
                                         size_t qps_per_path, uint64_t rotation);

// Indices of `names` within `universe`, in `names` order; names not found are skipped.
std::vector<size_t> IndicesOf(const std::vector<std::string>& names,
                              const std::vector<std::string>& universe);

}  // namespace kvc::transfer::internal

#include "transfer/internal/verbs_paths.h"

#include <algorithm>

namespace kvc::transfer::internal {

std::vector<VerbsPathId> OrderVerbsPaths(const std::vector<size_t>& local_order,
                                         const std::vector<size_t>& remote_order,
                                         size_t qps_per_path, uint64_t rotation) {
  std::vector<VerbsPathId> out;
  out.reserve(local_order.size() * remote_order.size() * qps_per_path);
  for (size_t local : local_order) {
    for (size_t remote : remote_order) {
      for (size_t q = 0; q < qps_per_path; ++q) {
        out.push_back({local, remote, (q + rotation) % qps_per_path});
      }
    }
  }
  return out;
}

std::vector<size_t> IndicesOf(const std::vector<std::string>& names,
                              const std::vector<std::string>& universe) {
  std::vector<size_t> out;
  for (const std::string& name : names) {
    auto it = std::find(universe.begin(), universe.end(), name);
    if (it != universe.end()) out.push_back(static_cast<size_t>(it - universe.begin()));
  }
  return out;
}

}  // namespace kvc::transfer::internal

// The topology matrix: for each memory location ("cpu:0", "cuda:1") the NICs to
// prefer (same NUMA node) and the secondary ones (any other), as the published
// design does. Discovered from sysfs, or given as JSON (docs/transfer.md):
//   {"cpu:0": {"preferred": ["mlx5_0"], "secondary": ["mlx5_1"]}, ...}
// The TCP and shm backends do not choose NICs (the kernel routes); the matrix is
// published in the segment descriptor for the RDMA/UCX paths. Thread-compatible.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "kvc/common/status.h"

namespace kvc::transfer::internal {

struct Topology {
  struct Choice {
    std::vector<std::string> preferred;
    std::vector<std::string> secondary;
    bool operator==(const Choice&) const = default;
  };
  std::map<std::string, Choice> matrix;  // location → NICs

  std::string ToJson() const;
  // INVALID_ARGUMENT naming the bad key when malformed.
  [[nodiscard]] static StatusOr<Topology> FromJson(const std::string& json);
  // Preferred then secondary NICs for `location`; empty when unknown.
  std::vector<std::string> NicsFor(const std::string& location) const;
};

// Reads NUMA nodes, RDMA devices (or, without any, physical network interfaces)
// and NVIDIA GPUs under `sys_root` (normally "/sys") and builds the matrix.
// Never fails: missing files mean "nothing of that kind".
Topology DiscoverTopology(const std::string& sys_root = "/sys");

}  // namespace kvc::transfer::internal

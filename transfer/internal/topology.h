// The topology matrix: for each memory location ("cpu:0", "cuda:1") the NICs to
// prefer (same NUMA node) and the secondary ones (any other), as the published
// design does. Discovered from sysfs, or given as JSON (docs/transfer.md):
//   {"cpu:0": {"preferred": ["mlx5_0"], "secondary": ["mlx5_1"]}, ...}
// The TCP and shm backends do not choose NICs (the kernel routes); the verbs
// backend orders its NICs per slice with OrderNics, and the matrix is published
// in the segment descriptor so that initiators can order the target's NICs too.
// Thread-compatible.
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

// The NICs to use for memory at `location`, best first, restricted to (and
// named as in) `available`: the location's preferred NICs, then its secondary
// ones, then the NICs of `available` the matrix does not list for it (all of
// them for an unknown location), in `available` order. Each group is rotated
// left by `rotation` (modulo its size), so that a caller counting slices
// spreads them over equally preferred NICs while keeping the groups in order.
std::vector<std::string> OrderNics(const Topology& topology, const std::string& location,
                                   const std::vector<std::string>& available, uint64_t rotation);

// Reads NUMA nodes, RDMA devices (or, without any, physical network interfaces)
// and NVIDIA GPUs under `sys_root` (normally "/sys") and builds the matrix.
// Never fails: missing files mean "nothing of that kind".
Topology DiscoverTopology(const std::string& sys_root = "/sys");

}  // namespace kvc::transfer::internal

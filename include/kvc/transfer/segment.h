// A segment is the memory one transfer engine exposes to its peers: a name, the
// endpoints where its target side listens, and the registered regions peers may
// read or write. The SegmentDescriptor is what a SegmentDirectory stores and what a
// peer needs to reach the segment; docs/transfer.md describes its JSON encoding.
//
// Addressing: a remote offset is the owner's virtual address of the byte (as a
// uint64), exactly as listed in `regions`. The store hands these values around in
// kvc.v1.MemoryDescriptor.offset. A peer may only touch [address, address+length)
// of a listed region; anything else is refused by the target.
//
// Plain value types; thread-compatible.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "kvc/common/status.h"

namespace kvc::transfer {

// One registered, remote-accessible region of a segment.
struct RegionDescriptor {
  uint64_t address = 0;       // owner's virtual address of the first byte
  uint64_t length = 0;        // bytes
  std::string location;       // "cpu:0", "cuda:1": where the memory lives (NUMA node / GPU)
  std::string ucx_rkey = "";  // hex of the packed UCX rkey; "" when the owner has no UCX
  // RDMA rkey of the region on each of the owner's verbs NICs (NIC name → rkey);
  // empty when the owner has no verbs device.
  std::map<std::string, uint32_t> verbs_rkeys = {};

  bool operator==(const RegionDescriptor&) const = default;
  // True when [addr, addr+len) lies inside this region (len may be 0 only at a valid addr).
  bool Contains(uint64_t addr, uint64_t len) const;
};

struct SegmentDescriptor {
  std::string name;      // unique in the cluster, e.g. "127.0.0.1:41234"
  std::string hostname;  // HostName() of the owner
  std::string boot_id;   // /proc/sys/kernel/random/boot_id of the owner's kernel
  // The owner's host identity (transfer.host_id; default = its boot id). Two
  // segments are on the same host (shm / cross-memory attach) only when their
  // host ids AND boot ids are equal and non-empty (docs/transfer.md, "Host identity").
  std::string host_id;
  int64_t pid = 0;                         // owner process id (intra-host path)
  uint64_t pid_start_time = 0;             // /proc/<pid>/stat field 22: guards against pid reuse
  std::vector<std::string> tcp_endpoints;  // "ip:port" where the TCP target listens
  std::vector<RegionDescriptor> regions;   // remote-accessible regions only
  std::string ucx_worker_address;          // hex of the packed UCX worker address; "" = no UCX
  std::string topology_json;               // the owner's topology matrix (docs/transfer.md)
  // Abstract Unix socket (name without the leading NUL) where same-host peers ask
  // for shared mappings of regions allocated with AllocateSharedMemory; "" = none.
  std::string shm_socket;
  // RDMA devices (ibv device names) the owner opened for the verbs backend; empty
  // = no verbs. Peers reach them after a handshake on a TCP endpoint.
  std::vector<std::string> verbs_nics;

  bool operator==(const SegmentDescriptor&) const = default;
  // The region holding [addr, addr+len), or nullptr.
  const RegionDescriptor* FindRegion(uint64_t addr, uint64_t len) const;
};

// JSON encoding (docs/transfer.md, "Segment descriptor").
std::string EncodeSegmentDescriptor(const SegmentDescriptor& descriptor);
// Fails with INVALID_ARGUMENT naming the bad field; never crashes on any input.
[[nodiscard]] StatusOr<SegmentDescriptor> DecodeSegmentDescriptor(const std::string& json);

// Checks a location string: "cpu:N" or "cuda:N", N a non-negative integer.
[[nodiscard]] Status ValidateLocation(const std::string& location);

}  // namespace kvc::transfer

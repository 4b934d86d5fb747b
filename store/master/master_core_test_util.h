// Helpers shared by the MasterCore unit tests.
#pragma once

#include <string>
#include <vector>

#include "kvc/common/clock.h"
#include "kvc/common/metrics.h"
#include "store/master/master_core.h"

namespace kvc::store::testing {

inline BlockKey Key(uint64_t i) { return BlockKey{0xabcdef, i}; }

inline SegmentSpec Dram(const std::string& node, uint64_t capacity,
                        const std::string& host = "host-a") {
  return SegmentSpec{.node_id = node,
                     .hostname = host,
                     .tier = Tier::kDram,
                     .capacity_bytes = capacity,
                     .transfer_segment = node + "-dram",
                     .rpc_address = "127.0.0.1:1"};
}

inline SegmentSpec Ssd(const std::string& node, uint64_t capacity,
                       const std::string& host = "host-a") {
  SegmentSpec s = Dram(node, capacity, host);
  s.tier = Tier::kSsd;
  s.transfer_segment = "";
  return s;
}

// The tasks of `reply` of one kind.
inline std::vector<NodeTask> TasksOf(const HeartbeatReply& reply, NodeTask::Kind kind) {
  std::vector<NodeTask> out;
  for (const NodeTask& t : reply.tasks) {
    if (t.kind == kind) out.push_back(t);
  }
  return out;
}

// A core with a fake clock and its own metrics registry.
struct CoreFixture {
  // Starts past the master's start-up grace period (no eviction for one lease).
  explicit CoreFixture(MasterPolicyOptions p = {}) : policy(p), core(policy, clock, metrics) {
    Advance(policy.lease_ms + 1);
  }
  // Puts `key` of `size` bytes completely; returns the PutStart status.
  Status Put(const BlockKey& key, uint64_t size, uint32_t replicas = 1,
             const std::string& preferred = "") {
    auto started = core.PutStart(key, size, replicas, preferred);
    if (!started.ok()) return started.status();
    return core.PutEnd(key);
  }
  void Advance(int64_t ms) { clock.Advance(std::chrono::milliseconds(ms)); }

  MasterPolicyOptions policy;
  FakeClock clock;
  MetricsRegistry metrics;
  MasterCore core;
};

}  // namespace kvc::store::testing

// The conductor's view of cluster membership: which prefill, decode and store
// nodes exist, their last reported load, and whether each is up, draining or
// down. Nodes register, then heartbeat; a node whose last heartbeat is older
// than `heartbeat_timeout` is down and gets no new work. Pure logic with an
// injected clock; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "kvc/common/clock.h"
#include "kvc/common/status.h"
#include "kvc/v1/admin.pb.h"
#include "kvc/v1/node.pb.h"

namespace kvc::conductor {

struct NodeRegistryOptions {
  Clock::Duration heartbeat_timeout =
      std::chrono::seconds(3);           // silence after which a node is down
  uint32_t heartbeat_interval_ms = 500;  // what nodes are told to use
  // The cluster's model id and KV block size: a node stating others is refused
  // ("" / 0 here, or in the registration, = not checked).
  std::string model_id;
  uint32_t block_tokens = 0;
};

class NodeRegistry {
 public:
  NodeRegistry(NodeRegistryOptions options, const Clock& clock);

  // Adds or refreshes a node. A node that re-registers keeps its drain state.
  // InvalidArgument when the id, role or address is missing; FailedPrecondition
  // (reason MODEL_MISMATCH) when its model id or block size differs from the cluster's.
  [[nodiscard]] Status Register(const kvc::v1::RegisterNodeRequest& request);
  // Records a heartbeat. NotFound (the node must re-register) when unknown.
  [[nodiscard]] StatusOr<kvc::v1::NodeHeartbeatResponse> Heartbeat(
      const kvc::v1::NodeHeartbeatRequest& request);
  // Forgets a node. NotFound when unknown.
  [[nodiscard]] Status Deregister(const std::string& node_id);
  // Stops (drain=true) or resumes new work for a node. NotFound when unknown.
  [[nodiscard]] StatusOr<kvc::v1::NodeInfo> SetDraining(const std::string& node_id, bool drain);

  // Every node, sorted by id, with its state computed now.
  std::vector<kvc::v1::NodeInfo> List() const;
  // Nodes of `role` that may take new work (up, not draining).
  std::vector<kvc::v1::NodeInfo> Available(kvc::v1::NodeRole role) const;

  uint32_t heartbeat_interval_ms() const { return options_.heartbeat_interval_ms; }

 private:
  struct Entry {
    kvc::v1::RegisterNodeRequest registration;
    kvc::v1::NodeLoad load;
    Clock::TimePoint last_seen;
    int64_t last_seen_unix_ms = 0;
    bool draining = false;
  };
  kvc::v1::NodeInfo InfoOf(const Entry& e) const;  // REQUIRES: mu_ held

  const NodeRegistryOptions options_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> nodes_;  // guarded by mu_
};

}  // namespace kvc::conductor

// Cluster membership: which prefill and decode nodes exist, their last reported
// load, and whether each may take new work. One NodeRegistry holds it where nodes
// register (kvc-master for a cluster, a conductor without a master on its own);
// conductors read it through a MembershipView. Pure logic with an injected clock.
//
// A node's state, computed when asked (the one definition every view shows):
//   down      no heartbeat for `heartbeat_timeout`, or a conductor reported it
//             unreachable and it has not heartbeated since;
//   draining  an operator drains it (SetDraining) or it drains itself (SIGTERM);
//   up        otherwise: it may take new work.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "kvc/common/clock.h"
#include "kvc/common/status.h"
#include "kvc/v1/admin.pb.h"
#include "kvc/v1/node.pb.h"

namespace kvc::membership {

// What placement, the Admin API, /health and /metrics read. Thread-safe.
class MembershipView {
 public:
  virtual ~MembershipView() = default;
  // Every node, sorted by id, with its state now.
  virtual std::vector<v1::NodeInfo> List() const = 0;
  // Nodes of `role` whose state is "up".
  std::vector<v1::NodeInfo> Available(v1::NodeRole role) const;
  // Stops (drain=true) or resumes new work for a node, for every conductor.
  // NotFound when unknown; UNAVAILABLE when the registry cannot be reached.
  [[nodiscard]] virtual StatusOr<v1::NodeInfo> SetDraining(const std::string& node_id,
                                                           bool drain) = 0;
  // A request could not reach `node_id` (connection refused or reset, stalled
  // stream): it is down, here at once, until its next heartbeat. Never blocks.
  virtual void ReportUnreachable(const std::string& node_id, const std::string& reason) = 0;
};

// What the NodeRegistry gRPC service (registry_service.h) serves. Thread-safe.
class RegistryBackend {
 public:
  virtual ~RegistryBackend() = default;
  [[nodiscard]] virtual Status Register(const v1::RegisterNodeRequest& request) = 0;
  [[nodiscard]] virtual StatusOr<v1::NodeHeartbeatResponse> Heartbeat(
      const v1::NodeHeartbeatRequest& request) = 0;
  [[nodiscard]] virtual Status Deregister(const std::string& node_id) = 0;
  [[nodiscard]] virtual StatusOr<v1::ListMembersResponse> ListMembers() const = 0;
  [[nodiscard]] virtual StatusOr<v1::NodeInfo> SetDraining(const std::string& node_id,
                                                           bool drain) = 0;
  // False when the node is unknown.
  [[nodiscard]] virtual StatusOr<bool> MarkUnreachable(const std::string& node_id,
                                                       const std::string& reason) = 0;
  // The heartbeat period nodes are told at registration.
  virtual uint32_t heartbeat_interval_ms() const = 0;
};

struct NodeRegistryOptions {
  Clock::Duration heartbeat_timeout =
      std::chrono::seconds(3);           // silence after which a node is down
  uint32_t heartbeat_interval_ms = 500;  // what nodes are told to use
  // The cluster's model id and KV block size: a node stating others is refused
  // ("" / 0 here, or in the registration, = not checked). A master leaves them
  // empty (conductors filter instead); a conductor without a master sets them.
  std::string model_id;
  uint32_t block_tokens = 0;
};

// The registry itself. Thread-safe.
class NodeRegistry final : public MembershipView, public RegistryBackend {
 public:
  // `clock` is borrowed and must outlive the registry.
  NodeRegistry(NodeRegistryOptions options, const Clock& clock);

  // Adds or refreshes a node (a heartbeat too). A node that re-registers keeps an
  // operator drain; `draining` in the request sets it (a new master learns it).
  // InvalidArgument when the id, role or address is missing; FailedPrecondition
  // (reason MODEL_MISMATCH) when its model id or block size differs from the cluster's.
  [[nodiscard]] Status Register(const v1::RegisterNodeRequest& request) override;
  // Records a heartbeat (load, self-drain). An unknown node gets `reregister`.
  [[nodiscard]] StatusOr<v1::NodeHeartbeatResponse> Heartbeat(
      const v1::NodeHeartbeatRequest& request) override;
  // Forgets a node. NotFound when unknown.
  [[nodiscard]] Status Deregister(const std::string& node_id) override;
  // Operator drain. NotFound when unknown.
  [[nodiscard]] StatusOr<v1::NodeInfo> SetDraining(const std::string& node_id, bool drain) override;
  // Down until the node's next heartbeat. False (nothing changes) when unknown.
  [[nodiscard]] StatusOr<bool> MarkUnreachable(const std::string& node_id,
                                               const std::string& reason) override;
  void ReportUnreachable(const std::string& node_id, const std::string& reason) override;

  std::vector<v1::NodeInfo> List() const override;
  // List() plus the timeout and whether the registry is still settling.
  [[nodiscard]] StatusOr<v1::ListMembersResponse> ListMembers() const override;
  // For one heartbeat timeout from now, ListMembers says `settling` (a new master:
  // nodes are still re-registering).
  void StartSettling();

  uint32_t heartbeat_interval_ms() const override { return options_.heartbeat_interval_ms; }

 private:
  struct Entry {
    v1::RegisterNodeRequest registration;
    v1::NodeLoad load;
    Clock::TimePoint last_seen;
    int64_t last_seen_unix_ms = 0;
    bool drained = false;        // by an operator
    bool self_draining = false;  // the node drains itself
    bool unreachable = false;    // reported since its last heartbeat
    std::string unreachable_reason;
  };
  v1::NodeInfo InfoOf(const Entry& e) const;  // REQUIRES: mu_ held
  void Seen(Entry& e) const;                  // REQUIRES: mu_ held

  const NodeRegistryOptions options_;
  const Clock& clock_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> nodes_;  // guarded by mu_
  Clock::TimePoint settling_until_{};   // guarded by mu_
};

}  // namespace kvc::membership

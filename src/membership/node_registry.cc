#include "kvc/membership/node_registry.h"

#include "absl/strings/str_cat.h"
#include "kvc/common/reason.h"

namespace kvc::membership {

std::vector<v1::NodeInfo> MembershipView::Available(v1::NodeRole role) const {
  std::vector<v1::NodeInfo> out;
  for (auto& info : List()) {
    if (info.role() == role && info.state() == "up") out.push_back(std::move(info));
  }
  return out;
}

NodeRegistry::NodeRegistry(NodeRegistryOptions options, const Clock& clock)
    : options_(options), clock_(clock) {}

Status NodeRegistry::Register(const v1::RegisterNodeRequest& request) {
  if (request.node_id().empty()) return absl::InvalidArgumentError("node_id is required");
  if (request.role() == v1::NODE_ROLE_UNSPECIFIED) {
    return absl::InvalidArgumentError("role is required for node " + request.node_id());
  }
  if (request.rpc_address().empty()) {
    return absl::InvalidArgumentError("rpc_address is required for node " + request.node_id());
  }
  if (!options_.model_id.empty() && !request.model_id().empty() &&
      request.model_id() != options_.model_id) {
    return WithReason(absl::FailedPreconditionError(absl::StrCat(
                          "node ", request.node_id(), " serves model '", request.model_id(),
                          "' but this cluster serves '", options_.model_id, "'")),
                      Reason::kModelMismatch);
  }
  if (options_.block_tokens != 0 && request.block_tokens() != 0 &&
      request.block_tokens() != options_.block_tokens) {
    return WithReason(absl::FailedPreconditionError(absl::StrCat(
                          "node ", request.node_id(), " uses ", request.block_tokens(),
                          "-token KV blocks but this cluster uses ", options_.block_tokens)),
                      Reason::kModelMismatch);
  }
  std::lock_guard lock(mu_);
  Entry& e = nodes_[request.node_id()];
  e.registration = request;
  e.registration.clear_header();
  e.registration.clear_draining();
  if (request.draining()) e.drained = true;
  Seen(e);
  return Status();
}

void NodeRegistry::Seen(Entry& e) const {
  e.last_seen = clock_.Now();
  e.last_seen_unix_ms = clock_.UnixMillis();
  e.unreachable = false;
  e.unreachable_reason.clear();
}

StatusOr<v1::NodeHeartbeatResponse> NodeRegistry::Heartbeat(
    const v1::NodeHeartbeatRequest& request) {
  std::lock_guard lock(mu_);
  v1::NodeHeartbeatResponse response;
  auto it = nodes_.find(request.node_id());
  if (it == nodes_.end()) {
    response.set_reregister(true);
    return response;
  }
  it->second.load = request.load();
  it->second.self_draining = request.draining();
  Seen(it->second);
  response.set_drain(it->second.drained);
  return response;
}

Status NodeRegistry::Deregister(const std::string& node_id) {
  std::lock_guard lock(mu_);
  if (nodes_.erase(node_id) == 0) return absl::NotFoundError("unknown node '" + node_id + "'");
  return Status();
}

StatusOr<v1::NodeInfo> NodeRegistry::SetDraining(const std::string& node_id, bool drain) {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(node_id);
  if (it == nodes_.end()) return absl::NotFoundError("unknown node '" + node_id + "'");
  it->second.drained = drain;
  return InfoOf(it->second);
}

StatusOr<bool> NodeRegistry::MarkUnreachable(const std::string& node_id,
                                             const std::string& reason) {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(node_id);
  if (it == nodes_.end()) return false;
  it->second.unreachable = true;
  it->second.unreachable_reason = reason;
  return true;
}

void NodeRegistry::ReportUnreachable(const std::string& node_id, const std::string& reason) {
  (void)MarkUnreachable(node_id, reason);
}

v1::NodeInfo NodeRegistry::InfoOf(const Entry& e) const {
  v1::NodeInfo info;
  info.set_node_id(e.registration.node_id());
  info.set_role(e.registration.role());
  info.set_rpc_address(e.registration.rpc_address());
  info.set_model_id(e.registration.model_id());
  info.set_block_tokens(e.registration.block_tokens());
  info.set_hostname(e.registration.hostname());
  *info.mutable_load() = e.load;
  info.set_last_heartbeat_unix_ms(e.last_seen_unix_ms);
  const auto silent = clock_.Now() - e.last_seen;
  if (silent > options_.heartbeat_timeout) {
    info.set_state("down");
    info.set_state_reason(absl::StrCat(
        "no heartbeat for ", std::chrono::duration_cast<std::chrono::milliseconds>(silent).count(),
        " ms (timeout ",
        std::chrono::duration_cast<std::chrono::milliseconds>(options_.heartbeat_timeout).count(),
        " ms)"));
  } else if (e.unreachable) {
    info.set_state("down");
    info.set_state_reason("unreachable: " + e.unreachable_reason);
  } else if (e.drained || e.self_draining) {
    info.set_state("draining");
    info.set_state_reason(e.drained ? "drained by an operator" : "node is shutting down");
  } else {
    info.set_state("up");
  }
  return info;
}

std::vector<v1::NodeInfo> NodeRegistry::List() const {
  std::lock_guard lock(mu_);
  std::vector<v1::NodeInfo> out;
  for (const auto& [id, e] : nodes_) out.push_back(InfoOf(e));
  return out;
}

StatusOr<v1::ListMembersResponse> NodeRegistry::ListMembers() const {
  v1::ListMembersResponse resp;
  for (auto& n : List()) *resp.add_nodes() = std::move(n);
  resp.set_heartbeat_timeout_ms(static_cast<uint32_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(options_.heartbeat_timeout).count()));
  std::lock_guard lock(mu_);
  resp.set_settling(clock_.Now() < settling_until_);
  return resp;
}

void NodeRegistry::StartSettling() {
  std::lock_guard lock(mu_);
  settling_until_ = clock_.Now() + options_.heartbeat_timeout;
}

}  // namespace kvc::membership

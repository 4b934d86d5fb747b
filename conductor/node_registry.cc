#include "kvc/conductor/node_registry.h"

#include "absl/strings/str_cat.h"
#include "kvc/common/reason.h"

namespace kvc::conductor {

NodeRegistry::NodeRegistry(NodeRegistryOptions options, const Clock& clock)
    : options_(options), clock_(clock) {}

Status NodeRegistry::Register(const kvc::v1::RegisterNodeRequest& request) {
  if (request.node_id().empty()) return absl::InvalidArgumentError("node_id is required");
  if (request.role() == kvc::v1::NODE_ROLE_UNSPECIFIED) {
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
  e.last_seen = clock_.Now();
  e.last_seen_unix_ms = clock_.UnixMillis();
  return Status();
}

StatusOr<kvc::v1::NodeHeartbeatResponse> NodeRegistry::Heartbeat(
    const kvc::v1::NodeHeartbeatRequest& request) {
  std::lock_guard lock(mu_);
  kvc::v1::NodeHeartbeatResponse response;
  auto it = nodes_.find(request.node_id());
  if (it == nodes_.end()) {
    response.set_reregister(true);
    return response;
  }
  it->second.load = request.load();
  it->second.last_seen = clock_.Now();
  it->second.last_seen_unix_ms = clock_.UnixMillis();
  response.set_drain(it->second.draining);
  return response;
}

Status NodeRegistry::Deregister(const std::string& node_id) {
  std::lock_guard lock(mu_);
  if (nodes_.erase(node_id) == 0) return absl::NotFoundError("unknown node '" + node_id + "'");
  return Status();
}

StatusOr<kvc::v1::NodeInfo> NodeRegistry::SetDraining(const std::string& node_id, bool drain) {
  std::lock_guard lock(mu_);
  auto it = nodes_.find(node_id);
  if (it == nodes_.end()) return absl::NotFoundError("unknown node '" + node_id + "'");
  it->second.draining = drain;
  return InfoOf(it->second);
}

kvc::v1::NodeInfo NodeRegistry::InfoOf(const Entry& e) const {
  kvc::v1::NodeInfo info;
  info.set_node_id(e.registration.node_id());
  info.set_role(e.registration.role());
  info.set_rpc_address(e.registration.rpc_address());
  *info.mutable_load() = e.load;
  info.set_last_heartbeat_unix_ms(e.last_seen_unix_ms);
  const bool down = clock_.Now() - e.last_seen > options_.heartbeat_timeout;
  info.set_state(down ? "down" : (e.draining ? "draining" : "up"));
  return info;
}

std::vector<kvc::v1::NodeInfo> NodeRegistry::List() const {
  std::lock_guard lock(mu_);
  std::vector<kvc::v1::NodeInfo> out;
  for (const auto& [id, e] : nodes_) out.push_back(InfoOf(e));
  return out;
}

std::vector<kvc::v1::NodeInfo> NodeRegistry::Available(kvc::v1::NodeRole role) const {
  std::vector<kvc::v1::NodeInfo> out;
  for (auto& info : List()) {
    if (info.role() == role && info.state() == "up") out.push_back(std::move(info));
  }
  return out;
}

}  // namespace kvc::conductor

#include "kvc/rpc/node_agent.h"

#include "kvc/common/ids.h"
#include "kvc/common/logging.h"
#include "kvc/common/net_address.h"
#include "kvc/rpc/auth.h"
#include "kvc/rpc/client.h"
#include "kvc/rpc/server.h"

namespace kvc {

void BindMembershipOptions(OptionSet& set, MembershipOptions* o) {
  set.Add("conductor_address", &o->conductor_address,
          "legacy: conductor gRPC host:port to register with when this node has no master "
          "(with a master, membership goes through it)");
  set.Add("cluster_token", &o->cluster_token, "shared secret sent when registering");
  set.Add("advertise_address", &o->advertise_address,
          "host:port others use to reach this node (default: the bound address)");
}

Status ValidateMembershipOptions(const MembershipOptions& o) {
  if (!o.conductor_address.empty()) {
    KVC_RETURN_IF_ERROR(ValidateHostPort("conductor_address", o.conductor_address));
  }
  if (!o.advertise_address.empty()) {
    KVC_RETURN_IF_ERROR(ValidateHostPort("advertise_address", o.advertise_address));
  }
  return Status();
}

std::unique_ptr<NodeAgent> StartMembership(const MembershipOptions& options, RegistryTarget where,
                                           v1::NodeRole role, const std::string& node_id,
                                           const std::string& bound_address,
                                           std::function<v1::NodeLoad()> load,
                                           const NodeIdentity& identity) {
  if (where.target.empty() && !where.resolve) return nullptr;
  NodeAgentOptions agent;
  agent.target = std::move(where.target);
  agent.resolve = std::move(where.resolve);
  agent.cluster_token = options.cluster_token;
  agent.registration.set_node_id(node_id);
  agent.registration.set_role(role);
  agent.registration.set_rpc_address(PublishedAddress(options.advertise_address, bound_address));
  agent.registration.set_hostname(HostName());
  agent.registration.set_model_id(identity.model_id);
  agent.registration.set_block_tokens(identity.block_tokens);
  agent.registration.set_transfer_segment(identity.transfer_segment);
  auto out = std::make_unique<NodeAgent>(std::move(agent), std::move(load));
  out->Start();
  return out;
}

NodeAgent::NodeAgent(NodeAgentOptions options, std::function<v1::NodeLoad()> load)
    : options_(std::move(options)), load_(std::move(load)) {}

NodeAgent::~NodeAgent() { Stop(); }

void NodeAgent::Start() {
  thread_ = std::thread([this] { Run(); });
}

std::string NodeAgent::registry_address() const {
  std::lock_guard lock(mu_);
  return address_;
}

void NodeAgent::AddHeaders(grpc::ClientContext& ctx) const {
  ctx.set_deadline(std::chrono::system_clock::now() + options_.rpc_timeout);
  AddBearerToken(&ctx, options_.cluster_token);
}

void NodeAgent::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (registered_.exchange(false)) {
    grpc::ClientContext ctx;
    AddHeaders(ctx);
    v1::DeregisterNodeRequest req;
    req.set_node_id(options_.registration.node_id());
    v1::DeregisterNodeResponse resp;
    // Best effort: the registry times us out anyway. The thread is joined: stub_ is ours.
    if (stub_) (void)stub_->Deregister(&ctx, req, &resp);
  }
}

void NodeAgent::AnnounceDrain() {
  self_draining_ = true;
  {
    std::lock_guard lock(mu_);
    wake_ = true;
  }
  cv_.notify_all();
}

bool NodeAgent::WaitFor(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, d, [this] { return stopping_ || wake_; });
  wake_ = false;
  return !stopping_;
}

bool NodeAgent::Register() {
  std::string address = options_.target;
  if (options_.resolve) {
    auto resolved = options_.resolve();
    if (!resolved.ok()) {
      Logger("agent")->warn("cannot find the node registry: {}", resolved.status().message());
      return false;
    }
    address = *resolved;
  }
  std::shared_ptr<v1::NodeRegistry::Stub> stub;
  {
    std::lock_guard lock(mu_);
    if (!stub_ || address != address_) {
      address_ = address;
      stub_ = v1::NodeRegistry::NewStub(MakeChannel(address));
    }
    stub = stub_;
  }
  grpc::ClientContext ctx;
  AddHeaders(ctx);
  v1::RegisterNodeRequest req = options_.registration;
  const bool announcing = self_draining_.load();
  req.set_draining(announcing || drained_.load());
  v1::RegisterNodeResponse resp;
  grpc::Status st = stub->Register(&ctx, req, &resp);
  if (!st.ok()) {
    Logger("agent")->warn("cannot register with {}: {}", address, st.error_message());
    return false;
  }
  if (resp.heartbeat_interval_ms() > 0) interval_ms_ = resp.heartbeat_interval_ms();
  if (announcing) drain_acked_ = true;
  Logger("agent")->info("registered with {} as {} (heartbeat every {} ms)", address,
                        options_.registration.node_id(), interval_ms_.load());
  return true;
}

bool NodeAgent::Heartbeat() {
  std::shared_ptr<v1::NodeRegistry::Stub> stub;
  std::string address;
  {
    std::lock_guard lock(mu_);
    stub = stub_;
    address = address_;
  }
  grpc::ClientContext ctx;
  AddHeaders(ctx);
  v1::NodeHeartbeatRequest req;
  req.set_node_id(options_.registration.node_id());
  const bool announcing = self_draining_.load();
  req.set_draining(announcing);
  if (load_) *req.mutable_load() = load_();
  v1::NodeHeartbeatResponse resp;
  grpc::Status st = stub->Heartbeat(&ctx, req, &resp);
  if (!st.ok()) {
    // The registry is gone, restarting or no longer the leader: find it again.
    Logger("agent")->warn("heartbeat to {} failed ({}); registering again", address,
                          st.error_message());
    return false;
  }
  drained_ = resp.drain();
  if (resp.reregister()) return false;
  if (announcing) drain_acked_ = true;
  return true;
}

void NodeAgent::Run() {
  std::chrono::milliseconds backoff(100);
  while (true) {
    if (!registered_) {
      if (Register()) {
        registered_ = true;
        backoff = std::chrono::milliseconds(100);
      } else {
        if (!WaitFor(backoff)) return;
        backoff = std::min(backoff * 2, options_.max_retry_backoff);
        continue;
      }
    }
    if (!WaitFor(std::chrono::milliseconds(interval_ms_.load()))) return;
    if (!Heartbeat()) registered_ = false;
  }
}

}  // namespace kvc

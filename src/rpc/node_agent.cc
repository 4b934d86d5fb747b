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
          "conductor gRPC host:port to register with (empty = standalone)");
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

std::unique_ptr<NodeAgent> StartMembership(const MembershipOptions& options, kvc::v1::NodeRole role,
                                           const std::string& node_id,
                                           const std::string& bound_address,
                                           std::function<kvc::v1::NodeLoad()> load,
                                           const NodeIdentity& identity) {
  if (options.conductor_address.empty()) return nullptr;
  NodeAgentOptions agent;
  agent.conductor_address = options.conductor_address;
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

NodeAgent::NodeAgent(NodeAgentOptions options, std::function<kvc::v1::NodeLoad()> load)
    : options_(std::move(options)),
      load_(std::move(load)),
      stub_(kvc::v1::NodeRegistry::NewStub(MakeChannel(options_.conductor_address))) {}

NodeAgent::~NodeAgent() { Stop(); }

void NodeAgent::Start() {
  thread_ = std::thread([this] { Run(); });
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
    ctx.set_deadline(std::chrono::system_clock::now() + options_.rpc_timeout);
    AddBearerToken(&ctx, options_.cluster_token);
    kvc::v1::DeregisterNodeRequest req;
    req.set_node_id(options_.registration.node_id());
    kvc::v1::DeregisterNodeResponse resp;
    (void)stub_->Deregister(&ctx, req, &resp);  // best effort: the conductor times us out anyway
  }
}

bool NodeAgent::WaitFor(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, d, [this] { return stopping_; });
}

bool NodeAgent::Register() {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + options_.rpc_timeout);
  AddBearerToken(&ctx, options_.cluster_token);
  kvc::v1::RegisterNodeResponse resp;
  grpc::Status st = stub_->Register(&ctx, options_.registration, &resp);
  if (!st.ok()) {
    Logger("agent")->warn("cannot register with conductor {}: {}", options_.conductor_address,
                          st.error_message());
    return false;
  }
  if (resp.heartbeat_interval_ms() > 0) interval_ms_ = resp.heartbeat_interval_ms();
  Logger("agent")->info("registered with conductor {} as {}", options_.conductor_address,
                        options_.registration.node_id());
  return true;
}

bool NodeAgent::Heartbeat() {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + options_.rpc_timeout);
  AddBearerToken(&ctx, options_.cluster_token);
  kvc::v1::NodeHeartbeatRequest req;
  req.set_node_id(options_.registration.node_id());
  if (load_) *req.mutable_load() = load_();
  kvc::v1::NodeHeartbeatResponse resp;
  grpc::Status st = stub_->Heartbeat(&ctx, req, &resp);
  if (!st.ok()) return true;  // transient: keep heartbeating; the conductor decides liveness
  draining_ = resp.drain();
  return !resp.reregister();
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

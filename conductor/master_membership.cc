#include "kvc/conductor/master_membership.h"

#include "absl/strings/str_cat.h"
#include "kvc/common/logging.h"
#include "kvc/common/reason.h"
#include "kvc/rpc/auth.h"
#include "kvc/rpc/client.h"
#include "kvc/rpc/grpc_status.h"

namespace kvc::conductor {
namespace {

auto Log() { return Logger("membership"); }

}  // namespace

MasterMembership::MasterMembership(MasterMembershipOptions options, const Clock& clock)
    : options_(std::move(options)), clock_(clock) {}

MasterMembership::~MasterMembership() { Stop(); }

void MasterMembership::Start() {
  thread_ = std::thread([this] { Run(); });
}

void MasterMembership::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool MasterMembership::synced() const {
  std::lock_guard lock(mu_);
  return synced_;
}

uint64_t MasterMembership::polls() const {
  std::lock_guard lock(mu_);
  return polls_;
}

void MasterMembership::AddHeaders(grpc::ClientContext& ctx) const {
  ctx.set_deadline(std::chrono::system_clock::now() + options_.rpc_timeout);
  AddBearerToken(&ctx, options_.cluster_token);
}

StatusOr<std::shared_ptr<v1::NodeRegistry::Stub>> MasterMembership::Stub() {
  {
    std::lock_guard lock(mu_);
    if (stub_) return stub_;
  }
  KVC_ASSIGN_OR_RETURN(std::string address, options_.resolve());
  auto stub =
      std::shared_ptr<v1::NodeRegistry::Stub>(v1::NodeRegistry::NewStub(MakeChannel(address)));
  std::lock_guard lock(mu_);
  if (address != address_)
    Log()->info("reading the cluster membership from kvc-master {}", address);
  address_ = address;
  stub_ = stub;
  return stub;
}

void MasterMembership::Forget() {
  std::lock_guard lock(mu_);
  stub_.reset();
}

void MasterMembership::Run() {
  while (true) {
    PollOnce();
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, options_.poll, [this] { return stop_ || wake_; });
    wake_ = false;
    if (stop_) return;
  }
}

void MasterMembership::DeliverReports(v1::NodeRegistry::Stub& stub) {
  std::vector<v1::ReportUnreachableRequest> reports;
  uint64_t poll = 0;
  {
    std::lock_guard lock(mu_);
    reports.swap(pending_);
    poll = polls_;
  }
  std::vector<v1::ReportUnreachableRequest> failed;
  for (auto& r : reports) {
    grpc::ClientContext ctx;
    AddHeaders(ctx);
    v1::ReportUnreachableResponse resp;
    if (stub.ReportUnreachable(&ctx, r, &resp).ok()) {
      std::lock_guard lock(mu_);
      auto it = marks_.find(r.node_id());
      if (it != marks_.end()) {
        it->second.delivered = true;
        it->second.delivered_poll = poll;
      }
    } else {
      failed.push_back(std::move(r));
    }
  }
  std::lock_guard lock(mu_);
  for (auto& r : failed) pending_.push_back(std::move(r));
}

void MasterMembership::PollOnce() {
  uint64_t poll = 0;
  {
    std::lock_guard lock(mu_);
    poll = ++polls_;
  }
  auto stub = Stub();
  grpc::Status st;
  v1::ListMembersResponse resp;
  if (stub.ok()) {
    DeliverReports(**stub);
    grpc::ClientContext ctx;
    AddHeaders(ctx);
    st = (*stub)->ListMembers(&ctx, {}, &resp);
  } else {
    st = ToGrpcStatus(stub.status());
  }
  if (st.ok()) return Apply(resp, poll);
  Forget();
  std::lock_guard lock(mu_);
  const auto silent = clock_.Now() - last_answer_;
  if (!outage_logged_ && (!synced_ || silent > std::chrono::milliseconds(timeout_ms_))) {
    outage_logged_ = true;
    Log()->warn(
        "no kvc-master answers the membership read ({}); placing on the last known nodes "
        "({} of them) until one does",
        st.error_message(), nodes_.size());
  }
}

void MasterMembership::Apply(const v1::ListMembersResponse& resp, uint64_t poll) {
  std::map<std::string, v1::NodeInfo> next;
  for (const auto& n : resp.nodes()) next[n.node_id()] = n;
  std::lock_guard lock(mu_);
  if (resp.settling()) {
    for (const auto& [id, n] : nodes_) next.emplace(id, n);  // still re-registering
  }
  nodes_ = std::move(next);
  // A delivered report is in the master's answer from the poll after its delivery on.
  std::erase_if(
      marks_, [&](const auto& m) { return m.second.delivered && poll > m.second.delivered_poll; });
  if (resp.heartbeat_timeout_ms() > 0) timeout_ms_ = resp.heartbeat_timeout_ms();
  last_answer_ = clock_.Now();
  if (outage_logged_) Log()->info("kvc-master answers the membership read again");
  outage_logged_ = false;
  synced_ = true;
}

v1::NodeInfo MasterMembership::Shown(v1::NodeInfo n, const Clock::TimePoint now) const {
  if ((!options_.model_id.empty() && !n.model_id().empty() && n.model_id() != options_.model_id) ||
      (options_.block_tokens != 0 && n.block_tokens() != 0 &&
       n.block_tokens() != options_.block_tokens)) {
    n.set_state("mismatch");
    n.set_state_reason(absl::StrCat("serves model '", n.model_id(), "' with ", n.block_tokens(),
                                    "-token blocks; this conductor serves '", options_.model_id,
                                    "' with ", options_.block_tokens));
    if (mismatch_logged_.insert(n.node_id()).second) {
      Log()->warn("node {} is not used: {}", n.node_id(), n.state_reason());
    }
    return n;
  }
  auto m = marks_.find(n.node_id());
  if (m != marks_.end() && (m->second.delivered || now < m->second.until) && n.state() != "down") {
    n.set_state("down");
    n.set_state_reason("unreachable: " + m->second.reason);
  }
  return n;
}

std::vector<v1::NodeInfo> MasterMembership::List() const {
  const auto now = clock_.Now();
  std::lock_guard lock(mu_);
  std::vector<v1::NodeInfo> out;
  out.reserve(nodes_.size());
  for (const auto& [id, n] : nodes_) out.push_back(Shown(n, now));
  return out;
}

StatusOr<v1::NodeInfo> MasterMembership::SetDraining(const std::string& node_id, bool drain) {
  KVC_ASSIGN_OR_RETURN(auto stub, Stub());
  grpc::ClientContext ctx;
  AddHeaders(ctx);
  v1::SetNodeDrainingRequest req;
  req.set_node_id(node_id);
  req.set_drain(drain);
  v1::SetNodeDrainingResponse resp;
  if (grpc::Status st = stub->SetDraining(&ctx, req, &resp); !st.ok()) {
    if (st.error_code() == grpc::StatusCode::UNAVAILABLE) Forget();
    return FromGrpcStatus(st);
  }
  std::lock_guard lock(mu_);
  nodes_[node_id] = resp.node();
  return Shown(resp.node(), clock_.Now());
}

void MasterMembership::ReportUnreachable(const std::string& node_id, const std::string& reason) {
  {
    std::lock_guard lock(mu_);
    Mark& m = marks_[node_id];
    m.reason = reason;
    m.until = clock_.Now() + options_.local_mark;
    m.delivered = false;
    v1::ReportUnreachableRequest r;
    r.set_node_id(node_id);
    r.set_reporter(options_.reporter);
    r.set_reason(reason);
    pending_.push_back(std::move(r));
    wake_ = true;
  }
  cv_.notify_all();
}

Status MasterMembership::Register(const v1::RegisterNodeRequest& request) {
  if ((!options_.model_id.empty() && !request.model_id().empty() &&
       request.model_id() != options_.model_id) ||
      (options_.block_tokens != 0 && request.block_tokens() != 0 &&
       request.block_tokens() != options_.block_tokens)) {
    return WithReason(
        absl::FailedPreconditionError(absl::StrCat(
            "node ", request.node_id(), " serves model '", request.model_id(), "' with ",
            request.block_tokens(), "-token blocks but this cluster serves '", options_.model_id,
            "' with ", options_.block_tokens)),
        Reason::kModelMismatch);
  }
  KVC_ASSIGN_OR_RETURN(auto stub, Stub());
  grpc::ClientContext ctx;
  AddHeaders(ctx);
  v1::RegisterNodeResponse resp;
  if (grpc::Status st = stub->Register(&ctx, request, &resp); !st.ok()) {
    if (st.error_code() == grpc::StatusCode::UNAVAILABLE) Forget();
    return FromGrpcStatus(st);
  }
  if (resp.heartbeat_interval_ms() > 0) interval_ms_ = resp.heartbeat_interval_ms();
  return Status();
}

StatusOr<v1::NodeHeartbeatResponse> MasterMembership::Heartbeat(
    const v1::NodeHeartbeatRequest& request) {
  KVC_ASSIGN_OR_RETURN(auto stub, Stub());
  grpc::ClientContext ctx;
  AddHeaders(ctx);
  v1::NodeHeartbeatResponse resp;
  if (grpc::Status st = stub->Heartbeat(&ctx, request, &resp); !st.ok()) {
    if (st.error_code() == grpc::StatusCode::UNAVAILABLE) Forget();
    return FromGrpcStatus(st);
  }
  return resp;
}

Status MasterMembership::Deregister(const std::string& node_id) {
  KVC_ASSIGN_OR_RETURN(auto stub, Stub());
  grpc::ClientContext ctx;
  AddHeaders(ctx);
  v1::DeregisterNodeRequest req;
  req.set_node_id(node_id);
  v1::DeregisterNodeResponse resp;
  return FromGrpcStatus(stub->Deregister(&ctx, req, &resp));
}

StatusOr<v1::ListMembersResponse> MasterMembership::ListMembers() const {
  v1::ListMembersResponse resp;
  for (auto& n : List()) *resp.add_nodes() = std::move(n);
  std::lock_guard lock(mu_);
  resp.set_heartbeat_timeout_ms(timeout_ms_);
  return resp;
}

StatusOr<bool> MasterMembership::MarkUnreachable(const std::string& node_id,
                                                 const std::string& reason) {
  ReportUnreachable(node_id, reason);
  return true;
}

}  // namespace kvc::conductor

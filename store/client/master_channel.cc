#include "store/client/master_channel.h"

#include <chrono>

#include "kvc/rpc/auth.h"
#include "kvc/rpc/client.h"
#include "store/proto_convert.h"

namespace kvc::store {

MasterChannel::MasterChannel(std::unique_ptr<MasterLocator> locator,
                             std::function<void()> on_refresh)
    : locator_(std::move(locator)), on_refresh_(std::move(on_refresh)) {}

std::shared_ptr<v1::StoreMaster::Stub> MasterChannel::Stub() {
  {
    std::lock_guard lock(mu_);
    if (stub_) return stub_;
  }
  (void)Refresh();
  std::lock_guard lock(mu_);
  return stub_;
}

Status MasterChannel::Refresh() {
  KVC_ASSIGN_OR_RETURN(const std::string address, locator_->Resolve());
  std::shared_ptr<v1::StoreMaster::Stub> stub = v1::StoreMaster::NewStub(MakeChannel(address));
  {
    std::lock_guard lock(mu_);
    stub_ = std::move(stub);
  }
  if (on_refresh_) on_refresh_();
  return Status();
}

std::unique_ptr<grpc::ClientContext> MasterContext(const MasterClientOptions& options) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(options.rpc_timeout_ms));
  if (!options.cluster_token.empty()) AddBearerToken(ctx.get(), options.cluster_token);
  return ctx;
}

StatusOr<StorePrefixMatch> CallMatchPrefix(MasterChannel& master,
                                           const MasterClientOptions& options,
                                           std::span<const BlockKey> keys) {
  v1::MatchPrefixRequest req;
  req.mutable_header()->set_caller_node_id(options.node_id);
  for (const BlockKey& k : keys) ToProto(k, req.add_keys());
  v1::MatchPrefixResponse resp;
  KVC_RETURN_IF_ERROR(master.Call([&](v1::StoreMaster::Stub& m) {
    return m.MatchPrefix(MasterContext(options).get(), req, &resp);
  }));
  StorePrefixMatch out;
  for (const v1::NodeMatch& m : resp.nodes())
    out.nodes.emplace_back(m.node_id(), m.matched_blocks());
  out.best_node_id = resp.best_node_id();
  out.best_matched_blocks = resp.best_matched_blocks();
  return out;
}

}  // namespace kvc::store

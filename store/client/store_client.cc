#include "absl/strings/str_cat.h"
#include "kvc/common/reason.h"
#include "kvc/rpc/client.h"
#include "kvc/rpc/grpc_status.h"
#include "store/client/store_client_impl.h"
#include "store/proto_convert.h"

namespace kvc::store {

StatusOr<std::unique_ptr<StoreClient>> StoreClient::Create(const StoreClientOptions& options,
                                                           transfer::TransferEngine& engine) {
  if (options.master_address.empty() && options.etcd_endpoints.empty()) {
    return absl::InvalidArgumentError("master_address: must not be empty");
  }
  KVC_ASSIGN_OR_RETURN(
      auto locator,
      MasterLocator::Create(options.master_address, options.etcd_endpoints, options.etcd_prefix));
  auto client = std::make_unique<StoreClientImpl>(options, engine, std::move(locator));
  (void)client->RefreshMaster();  // in etcd mode a missing leader is looked up again later
  return std::unique_ptr<StoreClient>(std::move(client));
}

StoreClientImpl::StoreClientImpl(const StoreClientOptions& options,
                                 transfer::TransferEngine& engine,
                                 std::unique_ptr<MasterLocator> locator)
    : options_(options), engine_(engine), master_(std::move(locator), [this] {
        if (!master_.uses_etcd()) return;
        std::lock_guard lock(mu_);
        lease_cache_.clear();
      }) {}

Status StoreClientImpl::RefreshMaster() { return master_.Refresh(); }

std::unique_ptr<grpc::ClientContext> StoreClientImpl::Ctx() const {
  return MasterContext(options_);
}

v1::RequestHeader* StoreClientImpl::Header(v1::RequestHeader* h) const {
  h->set_caller_node_id(options_.node_id);
  return h;
}

StatusOr<transfer::SegmentHandle> StoreClientImpl::Handle(const std::string& segment) {
  {
    std::lock_guard lock(mu_);
    if (auto it = handles_.find(segment); it != handles_.end()) return it->second;
  }
  auto h = engine_.OpenSegment(segment);
  if (!h.ok()) {
    return WithReason(
        absl::UnavailableError(absl::StrCat("segment ", segment, ": ", h.status().message())),
        Reason::kNodeUnreachable);
  }
  std::lock_guard lock(mu_);
  handles_[segment] = *h;
  return *h;
}

v1::StoreNode::Stub& StoreClientImpl::NodeStub(const std::string& address) {
  std::lock_guard lock(mu_);
  auto& stub = nodes_[address];
  if (!stub) stub = v1::StoreNode::NewStub(MakeChannel(address));
  return *stub;
}

std::vector<Status> StoreClientImpl::RunBatch(const std::vector<Transfer>& transfers) {
  std::vector<Status> out(transfers.size());
  if (transfers.empty()) return out;
  std::vector<transfer::TransferRequest> reqs;
  std::vector<size_t> index;  // request -> transfer
  for (size_t i = 0; i < transfers.size(); ++i) {
    auto h = Handle(transfers[i].remote->segment_name());
    if (!h.ok()) {
      out[i] = h.status();
      continue;
    }
    reqs.push_back(transfer::TransferRequest{.op = transfers[i].op,
                                             .local = transfers[i].local,
                                             .target = *h,
                                             .remote_offset = transfers[i].remote->offset(),
                                             .length = transfers[i].remote->length()});
    index.push_back(i);
  }
  if (reqs.empty()) return out;
  auto fail_all = [&](const Status& s) {
    for (size_t i : index) out[i] = s;
    return out;
  };
  auto batch = engine_.AllocateBatch(reqs.size());
  if (!batch.ok()) return fail_all(batch.status());
  if (Status s = engine_.Submit(*batch, reqs); !s.ok()) {
    (void)engine_.FreeBatch(*batch);
    return fail_all(s);
  }
  (void)engine_.Wait(*batch, std::chrono::milliseconds(options_.transfer_timeout_ms));
  auto statuses = engine_.GetAllStatus(*batch);
  if (!statuses.ok()) return fail_all(statuses.status());
  for (size_t r = 0; r < statuses->size(); ++r) {
    const transfer::TransferStatus& st = (*statuses)[r];
    if (st.state == transfer::TransferState::kCompleted) continue;
    out[index[r]] = st.state == transfer::TransferState::kFailed
                        ? WithReason(st.error, Reason::kNodeUnreachable)
                        : WithReason(absl::DeadlineExceededError("transfer timed out"),
                                     Reason::kNodeUnreachable);
  }
  if (!engine_.FreeBatch(*batch).ok()) {
    // Entries still pending after the deadline keep their buffers in use; the
    // batch id is leaked on purpose rather than reused under them.
  }
  return out;
}

StatusOr<bool> StoreClientImpl::Exists(const BlockKey& key) {
  v1::ExistsRequest req;
  Header(req.mutable_header());
  ToProto(key, req.mutable_key());
  v1::ExistsResponse resp;
  KVC_RETURN_IF_ERROR(
      CallMaster([&](v1::StoreMaster::Stub& m) { return m.Exists(Ctx().get(), req, &resp); }));
  return resp.exists();
}

StatusOr<std::vector<bool>> StoreClientImpl::BatchExists(std::span<const BlockKey> keys) {
  v1::BatchExistsRequest req;
  Header(req.mutable_header());
  for (const BlockKey& k : keys) ToProto(k, req.add_keys());
  v1::BatchExistsResponse resp;
  KVC_RETURN_IF_ERROR(
      CallMaster([&](v1::StoreMaster::Stub& m) { return m.BatchExists(Ctx().get(), req, &resp); }));
  return std::vector<bool>(resp.exists().begin(), resp.exists().end());
}

Status StoreClientImpl::Remove(const BlockKey& key) {
  Forget(key);
  v1::RemoveRequest req;
  Header(req.mutable_header());
  ToProto(key, req.mutable_key());
  v1::RemoveResponse resp;
  return CallMaster([&](v1::StoreMaster::Stub& m) { return m.Remove(Ctx().get(), req, &resp); });
}

StatusOr<StorePrefixMatch> StoreClientImpl::MatchPrefix(std::span<const BlockKey> keys) {
  return CallMatchPrefix(master_, options_, keys);
}

}  // namespace kvc::store

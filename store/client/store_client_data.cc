// StoreClient: the read path (gets through the transfer engine, staging, fallback).
#include "absl/strings/str_cat.h"
#include "kvc/common/clock.h"
#include "kvc/common/reason.h"
#include "kvc/rpc/grpc_status.h"
#include "store/client/store_client_impl.h"
#include "store/proto_convert.h"

namespace kvc::store {

StatusOr<uint64_t> StoreClientImpl::Get(const BlockKey& key, void* buffer, uint64_t capacity) {
  const GetItem item{key, buffer, capacity};
  return BatchGet(std::span(&item, 1))[0];
}

Status StoreClientImpl::CheckLease(const v1::GetResponse& found) const {
  if (Clock::Real().UnixMillis() <= found.lease_expires_unix_ms()) return Status();
  return WithReason(absl::AbortedError("Get: the read lease expired before the transfer ended; "
                                       "the bytes may be stale, retry"),
                    Reason::kLeaseExpired);
}

Status StoreClientImpl::ReadReplica(const BlockKey& key, const v1::Replica& replica, void* buffer) {
  if (replica.tier() != v1::STORAGE_TIER_SSD) {
    return RunBatch({Transfer{transfer::TransferOp::kRead, buffer, &replica.location()}})[0];
  }
  v1::StageRequest req;
  Header(req.mutable_header());
  ToProto(key, req.mutable_key());
  v1::StageResponse staged;
  v1::StoreNode::Stub& node = NodeStub(replica.rpc_address());
  Status s = FromGrpcStatus(node.Stage(Ctx().get(), req, &staged));
  if (!s.ok()) return s;
  s = RunBatch({Transfer{transfer::TransferOp::kRead, buffer, &staged.location()}})[0];
  v1::UnstageRequest un;
  un.set_staging_id(staged.staging_id());
  v1::UnstageResponse un_resp;
  (void)node.Unstage(Ctx().get(), un, &un_resp);
  return s;
}

namespace {

// A transfer that failed because the node did not answer (not a refused range).
bool Unreachable(const Status& s) {
  return s.code() == absl::StatusCode::kUnavailable ||
         s.code() == absl::StatusCode::kDeadlineExceeded;
}

}  // namespace

StatusOr<uint64_t> StoreClientImpl::ReadWithFallback(
    const BlockKey& key, const v1::GetResponse& found, int first, void* buffer, Status last_error,
    std::map<std::string, std::string>* unreachable) {
  for (int r = first; r < found.replicas_size(); ++r) {
    last_error = ReadReplica(key, found.replicas(r), buffer);
    if (Unreachable(last_error)) {
      unreachable->emplace(found.replicas(r).node_id(), std::string(last_error.message()));
    }
    if (last_error.ok()) {
      KVC_RETURN_IF_ERROR(CheckLease(found));
      return found.size();
    }
  }
  return WithReason(absl::UnavailableError(absl::StrCat(
                        "Get ", key.ToHex(), ": every replica failed (", found.replicas_size(),
                        "); last error: ", last_error.message())),
                    Reason::kNodeUnreachable);
}

void StoreClientImpl::Forget(const BlockKey& key) {
  std::lock_guard lock(mu_);
  lease_cache_.erase(key);
}

Status StoreClientImpl::Locate(std::span<const GetItem> items, bool use_cache,
                               std::vector<v1::GetResponse>* found, std::vector<bool>* cached) {
  found->assign(items.size(), v1::GetResponse());
  cached->assign(items.size(), false);
  v1::BatchGetRequest req;
  std::vector<size_t> asked;
  {
    const int64_t usable_after = Clock::Real().UnixMillis() + options_.lease_margin_ms;
    std::lock_guard lock(mu_);
    for (size_t i = 0; i < items.size(); ++i) {
      if (use_cache && options_.lease_cache) {
        auto it = lease_cache_.find(items[i].key);
        if (it != lease_cache_.end() && it->second.lease_expires_unix_ms() > usable_after) {
          (*found)[i] = it->second;
          (*cached)[i] = true;
          continue;
        }
      }
      ToProto(items[i].key, req.add_keys());
      asked.push_back(i);
    }
  }
  if (asked.empty()) return Status();
  Header(req.mutable_header());
  req.set_reader_node_id(options_.node_id);
  v1::BatchGetResponse resp;
  KVC_RETURN_IF_ERROR(
      CallMaster([&](v1::StoreMaster::Stub& m) { return m.BatchGet(Ctx().get(), req, &resp); }));
  if (resp.results_size() != static_cast<int>(asked.size())) {
    return absl::InternalError("BatchGet: master answered a different number of keys");
  }
  std::lock_guard lock(mu_);
  for (size_t a = 0; a < asked.size(); ++a) {
    (*found)[asked[a]] = std::move(*resp.mutable_results(static_cast<int>(a)));
    if (options_.lease_cache && (*found)[asked[a]].replicas_size() > 0) {
      lease_cache_[items[asked[a]].key] = (*found)[asked[a]];
    }
  }
  return Status();
}

std::vector<StatusOr<uint64_t>> StoreClientImpl::BatchGet(std::span<const GetItem> items) {
  return BatchGetImpl(items, /*use_cache=*/true);
}

std::vector<StatusOr<uint64_t>> StoreClientImpl::BatchGetImpl(std::span<const GetItem> items,
                                                              bool use_cache) {
  std::vector<StatusOr<uint64_t>> out(items.size(), absl::UnknownError("not attempted"));
  std::vector<v1::GetResponse> found;
  std::vector<bool> cached;
  if (Status s = Locate(items, use_cache, &found, &cached); !s.ok()) {
    for (auto& o : out) o = s;
    return out;
  }
  // First choice of every key in one batch; SSD replicas and failures go the slow way.
  std::vector<Transfer> transfers;
  std::vector<size_t> owner;
  std::vector<size_t> slow;
  for (size_t i = 0; i < items.size(); ++i) {
    if (found[i].replicas_size() == 0) {
      out[i] = WithReason(
          absl::NotFoundError(absl::StrCat("Get: key ", items[i].key.ToHex(), " not found")),
          Reason::kNotFound);
    } else if (found[i].size() > items[i].capacity || items[i].buffer == nullptr) {
      out[i] = WithReason(absl::InvalidArgumentError(absl::StrCat(
                              "Get: value of ", items[i].key.ToHex(), " has ", found[i].size(),
                              " bytes, the buffer holds ", items[i].capacity)),
                          Reason::kBadSize);
    } else if (found[i].replicas(0).tier() == v1::STORAGE_TIER_SSD) {
      slow.push_back(i);
    } else {
      transfers.push_back(
          Transfer{transfer::TransferOp::kRead, items[i].buffer, &found[i].replicas(0).location()});
      owner.push_back(i);
    }
  }
  const std::vector<Status> moved = RunBatch(transfers);
  std::map<std::string, std::string> unreachable;  // node id → error
  for (size_t t = 0; t < transfers.size(); ++t) {
    const size_t i = owner[t];
    if (moved[t].ok()) {
      Status lease = CheckLease(found[i]);
      out[i] = lease.ok() ? StatusOr<uint64_t>(found[i].size()) : StatusOr<uint64_t>(lease);
    } else {
      if (Unreachable(moved[t])) {
        unreachable.emplace(found[i].replicas(0).node_id(), std::string(moved[t].message()));
      }
      out[i] = ReadWithFallback(items[i].key, found[i], 1, items[i].buffer, moved[t], &unreachable);
    }
  }
  for (size_t i : slow) {
    out[i] = ReadWithFallback(items[i].key, found[i], 0, items[i].buffer, Status(), &unreachable);
  }
  // At once, not after store.node_timeout_ms: a put of these keys (the caller
  // recomputing them) may then replace replicas held only there.
  for (const auto& [node, why] : unreachable) {
    if (!node.empty() && node != options_.node_id) (void)ReportUnreachable(node, why);
  }
  // A cached location that failed may be stale (node died, master restarted):
  // drop it and ask the master once.
  for (size_t i = 0; i < items.size(); ++i) {
    if (!cached[i] || out[i].ok()) continue;
    Forget(items[i].key);
    out[i] = std::move(BatchGetImpl(items.subspan(i, 1), /*use_cache=*/false)[0]);
  }
  return out;
}

Status StoreClientImpl::ReportUnreachable(const std::string& node_id, const std::string& reason) {
  v1::StoreReportUnreachableRequest req;
  Header(req.mutable_header());
  req.set_node_id(node_id);
  req.set_reason(reason.substr(0, 512));
  v1::StoreReportUnreachableResponse resp;
  return CallMaster(
      [&](v1::StoreMaster::Stub& m) { return m.ReportUnreachable(Ctx().get(), req, &resp); });
}

}  // namespace kvc::store

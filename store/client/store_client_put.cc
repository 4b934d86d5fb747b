// StoreClient: the write path (two-phase puts through the transfer engine) and,
// in etcd mode, one retry of puts caught by a master take-over.
#include <optional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "kvc/common/reason.h"
#include "kvc/rpc/grpc_status.h"
#include "store/client/put_retry.h"
#include "store/client/store_client_impl.h"
#include "store/proto_convert.h"

namespace kvc::store {
namespace {

using SteadyClock = std::chrono::steady_clock;

// A failure caused by the master changing or being away, not by the put itself:
// the new leader never saw our PutStart, no leader is elected, a standby answered,
// or the master did not answer at all.
bool TakeOver(const Status& s) {
  const Reason reason = ReasonCodeOf(s);
  if (reason == Reason::kPutNotStarted || reason == Reason::kNotLeader ||
      reason == Reason::kNoLeader)
    return true;
  return s.code() == absl::StatusCode::kUnavailable && reason != Reason::kNodeUnreachable;
}

}  // namespace

Status StoreClientImpl::Put(const BlockKey& key, const void* data, uint64_t size) {
  const PutItem item{key, data, size};
  return BatchPut(std::span(&item, 1))[0];
}

std::vector<Status> StoreClientImpl::BatchPut(std::span<const PutItem> items) {
  std::vector<Status> out = BatchPutOnce(items, std::nullopt);
  if (!master_.uses_etcd() || options_.takeover_retry_ms == 0) return out;
  std::vector<PutItem> again;
  std::vector<size_t> where;
  for (size_t i = 0; i < items.size(); ++i) {
    if (!out[i].ok() && TakeOver(out[i])) {
      again.push_back(items[i]);
      where.push_back(i);
    }
  }
  if (again.empty()) return out;
  (void)RefreshMaster();
  const auto until = SteadyClock::now() + std::chrono::milliseconds(options_.takeover_retry_ms);
  const std::vector<Status> retried = BatchPutOnce(again, until);
  for (size_t k = 0; k < where.size(); ++k) out[where[k]] = retried[k];
  return out;
}

Status StoreClientImpl::StartPut(const PutItem& item, v1::PutStartResponse* started,
                                 std::optional<SteadyClock::time_point> until) {
  v1::PutStartRequest req;
  Header(req.mutable_header());
  ToProto(item.key, req.mutable_key());
  req.set_size(item.size);
  req.set_replicas(options_.replicas);
  req.set_preferred_node_id(options_.node_id);
  while (true) {
    started->Clear();
    Status s =
        CallMaster([&](v1::StoreMaster::Stub& m) { return m.PutStart(Ctx().get(), req, started); });
    // A new leader starts empty: NO_SPACE until the nodes have re-registered.
    const bool waiting = !s.ok() && (TakeOver(s) || ReasonCodeOf(s) == Reason::kNoSpace);
    if (!waiting || !until || SteadyClock::now() >= *until) return s;
    // A grace that outlasts our window: give up now (a cache put can be skipped)
    // rather than stall the caller for the whole window and fail anyway.
    if (auto left = GraceLeft(s); left && SteadyClock::now() + *left > *until) return s;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    (void)RefreshMaster();
  }
}

void StoreClientImpl::StartPuts(std::span<const PutItem> items,
                                std::vector<v1::PutStartResponse>* started,
                                std::vector<Status>* out,
                                std::optional<SteadyClock::time_point> until) {
  std::vector<size_t> asked;
  v1::BatchPutStartRequest req;
  Header(req.mutable_header());
  for (size_t i = 0; i < items.size(); ++i) {
    if (items[i].data == nullptr && items[i].size > 0) {
      (*out)[i] = WithReason(absl::InvalidArgumentError("Put: data is null"), Reason::kBadSize);
      continue;
    }
    v1::PutStartRequest* item = req.add_items();
    ToProto(items[i].key, item->mutable_key());
    item->set_size(items[i].size);
    item->set_replicas(options_.replicas);
    item->set_preferred_node_id(options_.node_id);
    asked.push_back(i);
  }
  if (asked.empty()) return;
  if (asked.size() > 1) {  // one round trip for all; a lone item takes the plain call
    v1::BatchPutStartResponse resp;
    Status s = CallMaster(
        [&](v1::StoreMaster::Stub& m) { return m.BatchPutStart(Ctx().get(), req, &resp); });
    if (s.ok() && (resp.status_size() != static_cast<int>(asked.size()) ||
                   resp.results_size() != static_cast<int>(asked.size()))) {
      s = absl::InternalError("BatchPutStart: master answered a different number of items");
    }
    for (size_t a = 0; a < asked.size(); ++a) {
      const size_t i = asked[a];
      (*out)[i] = s.ok() ? FromProto(resp.status(static_cast<int>(a))) : s;
      if ((*out)[i].ok()) (*started)[i] = std::move(*resp.mutable_results(static_cast<int>(a)));
    }
  }
  // Items not placed yet: one at a time, waiting out a take-over when `until` is set.
  for (size_t i : asked) {
    const bool placed = (*out)[i].ok() && (*started)[i].replicas_size() > 0;
    const bool retry = asked.size() == 1 || (until && !(*out)[i].ok());
    if (!placed && retry) (*out)[i] = StartPut(items[i], &(*started)[i], until);
  }
}

void StoreClientImpl::EndPuts(std::span<const PutItem> items,
                              const std::vector<v1::PutStartResponse>& started,
                              const std::vector<bool>& wrote, std::vector<Status>* out) {
  v1::BatchPutEndRequest req;
  Header(req.mutable_header());
  std::vector<size_t> committed;
  for (size_t i = 0; i < items.size(); ++i) {
    if (started[i].replicas_size() == 0) continue;  // PutStart failed
    if (wrote[i]) {
      ToProto(items[i].key, req.add_commit());
      committed.push_back(i);
    } else {
      ToProto(items[i].key, req.add_revoke());
    }
  }
  if (committed.empty() && req.revoke_size() == 0) return;
  v1::BatchPutEndResponse resp;
  Status s =
      CallMaster([&](v1::StoreMaster::Stub& m) { return m.BatchPutEnd(Ctx().get(), req, &resp); });
  if (s.ok() && resp.commit_status_size() != static_cast<int>(committed.size())) {
    s = absl::InternalError("BatchPutEnd: master answered a different number of items");
  }
  for (size_t c = 0; c < committed.size(); ++c) {
    (*out)[committed[c]] = s.ok() ? FromProto(resp.commit_status(static_cast<int>(c))) : s;
  }
}

std::vector<Status> StoreClientImpl::BatchPutOnce(std::span<const PutItem> items,
                                                  std::optional<SteadyClock::time_point> until) {
  std::vector<Status> out(items.size());
  std::vector<v1::PutStartResponse> started(items.size());
  StartPuts(items, &started, &out, until);
  std::vector<Transfer> transfers;
  std::vector<size_t> owner;  // transfer -> item
  for (size_t i = 0; i < items.size(); ++i) {
    if (!out[i].ok()) continue;
    for (const v1::Replica& r : started[i].replicas()) {
      transfers.push_back(
          Transfer{transfer::TransferOp::kWrite, const_cast<void*>(items[i].data), &r.location()});
      owner.push_back(i);
    }
  }
  const std::vector<Status> moved = RunBatch(transfers);
  std::vector<bool> wrote(items.size(), true);
  std::vector<bool> in_doubt(items.size(), false);
  for (size_t t = 0; t < transfers.size(); ++t) {
    if (moved[t].ok()) continue;
    // A write still pending at the deadline may yet land: revoking would let the
    // master hand its range to another put under it. Leave such a put neither
    // committed nor revoked; the master reclaims it after store.put_timeout_ms.
    if (moved[t].code() == absl::StatusCode::kDeadlineExceeded) in_doubt[owner[t]] = true;
    if (wrote[owner[t]]) {
      wrote[owner[t]] = false;
      out[owner[t]] = moved[t];
    }
  }
  for (size_t i = 0; i < items.size(); ++i) {
    if (in_doubt[i]) started[i].clear_replicas();  // EndPuts skips it
  }
  EndPuts(items, started, wrote, &out);
  return out;
}

}  // namespace kvc::store

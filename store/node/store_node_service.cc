// SegmentServer: staging SSD-only values into DRAM for readers (kvc.v1.StoreNode).
#include "absl/strings/str_cat.h"
#include "kvc/common/reason.h"
#include "kvc/rpc/grpc_status.h"
#include "store/node/segment_server_impl.h"
#include "store/proto_convert.h"

namespace kvc::store {

void SegmentServerImpl::ExpireStagedLocked() {
  const auto now = std::chrono::steady_clock::now();
  for (auto it = staged_.begin(); it != staged_.end();) {
    if (it->second.expires > now) {
      ++it;
      continue;
    }
    (void)staging_alloc_.Free(it->second.offset, it->second.size);
    it = staged_.erase(it);
  }
}

StatusOr<v1::StageResponse> SegmentServerImpl::Stage(const BlockKey& key) {
  if (!ssd_) {
    return WithReason(absl::FailedPreconditionError(
                          absl::StrCat("Stage: node ", options_.node_id, " has no SSD tier")),
                      Reason::kNotFound);
  }
  KVC_ASSIGN_OR_RETURN(const uint64_t size, ssd_->SizeOf(key));
  uint64_t offset = 0;
  uint64_t id = 0;
  {
    std::lock_guard lock(mu_);
    ExpireStagedLocked();
    std::optional<uint64_t> slot = staging_alloc_.Allocate(size);
    if (!slot) {
      return WithReason(absl::ResourceExhaustedError(
                            absl::StrCat("Stage: staging area of ", options_.node_id, " is full (",
                                         options_.staging_bytes, " bytes); retry shortly")),
                        Reason::kNoSpace);
    }
    offset = *slot;
    id = next_staging_id_++;
    staged_[id] = Staged{
        offset, size,
        std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.staging_ttl_ms)};
  }
  auto read = ssd_->Read(key, staging_->data + offset, size);
  if (!read.ok()) {
    (void)Unstage(id);
    return read.status();
  }
  v1::StageResponse resp;
  resp.mutable_location()->set_segment_name(engine_.LocalSegment().name);
  resp.mutable_location()->set_offset(reinterpret_cast<uint64_t>(staging_->data) + offset);
  resp.mutable_location()->set_length(*read);
  resp.set_size(*read);
  resp.set_staging_id(id);
  return resp;
}

Status SegmentServerImpl::Unstage(uint64_t staging_id) {
  std::lock_guard lock(mu_);
  auto it = staged_.find(staging_id);
  if (it == staged_.end()) {
    return WithReason(absl::NotFoundError(
                          absl::StrCat("Unstage: staging id ", staging_id, " unknown or expired")),
                      Reason::kNotFound);
  }
  (void)staging_alloc_.Free(it->second.offset, it->second.size);
  staged_.erase(it);
  return Status();
}

grpc::Status StoreNodeService::Stage(grpc::ServerContext*, const v1::StageRequest* req,
                                     v1::StageResponse* resp) {
  auto r = server_.Stage(FromProto(req->key()));
  if (!r.ok()) return ToGrpcStatus(r.status());
  *resp = std::move(*r);
  return grpc::Status::OK;
}

grpc::Status StoreNodeService::Unstage(grpc::ServerContext*, const v1::UnstageRequest* req,
                                       v1::UnstageResponse*) {
  return ToGrpcStatus(server_.Unstage(req->staging_id()));
}

}  // namespace kvc::store

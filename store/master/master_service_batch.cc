// MasterService: the batch forms of the put protocol, one round trip for the
// new blocks of a request. Every item goes through the single-item handler, so
// a batch item is validated and answered exactly as its single call would be.
#include "absl/strings/str_cat.h"
#include "kvc/common/reason.h"
#include "kvc/rpc/grpc_status.h"
#include "store/master/master_service.h"
#include "store/proto_convert.h"

namespace kvc::store {
namespace {

constexpr int kMaxBatchItems = 4096;

grpc::Status TooMany(int items) {
  return ToGrpcStatus(
      WithReason(absl::InvalidArgumentError(absl::StrCat("batch of ", items, " items; at most ",
                                                         kMaxBatchItems, " per call")),
                 Reason::kBatchTooLarge));
}

}  // namespace

grpc::Status MasterService::BatchPutStart(Ctx* ctx, const v1::BatchPutStartRequest* req,
                                          v1::BatchPutStartResponse* resp) {
  if (grpc::Status g = Gate(); !g.ok()) return g;
  if (req->items_size() > kMaxBatchItems) return TooMany(req->items_size());
  for (const v1::PutStartRequest& item : req->items()) {
    v1::PutStartRequest one = item;
    *one.mutable_header() = req->header();
    const grpc::Status s = PutStart(ctx, &one, resp->add_results());
    ToProto(FromGrpcStatus(s), resp->add_status());
  }
  return grpc::Status::OK;
}

grpc::Status MasterService::BatchPutEnd(Ctx* ctx, const v1::BatchPutEndRequest* req,
                                        v1::BatchPutEndResponse* resp) {
  if (grpc::Status g = Gate(); !g.ok()) return g;
  if (req->commit_size() + req->revoke_size() > kMaxBatchItems) {
    return TooMany(req->commit_size() + req->revoke_size());
  }
  for (const v1::BlockKey& key : req->commit()) {
    v1::PutEndRequest one;
    *one.mutable_header() = req->header();
    *one.mutable_key() = key;
    v1::PutEndResponse ignored;
    ToProto(FromGrpcStatus(PutEnd(ctx, &one, &ignored)), resp->add_commit_status());
  }
  for (const v1::BlockKey& key : req->revoke()) {
    v1::PutRevokeRequest one;
    *one.mutable_header() = req->header();
    *one.mutable_key() = key;
    v1::PutRevokeResponse ignored;
    ToProto(FromGrpcStatus(PutRevoke(ctx, &one, &ignored)), resp->add_revoke_status());
  }
  return grpc::Status::OK;
}

}  // namespace kvc::store

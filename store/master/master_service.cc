#include "store/master/master_service.h"

#include <vector>

#include "kvc/common/clock.h"
#include "kvc/common/logging.h"
#include "kvc/rpc/grpc_status.h"
#include "store/proto_convert.h"

namespace kvc::store {
namespace {

template <typename Keys>
std::vector<BlockKey> KeysFrom(const Keys& keys) {
  std::vector<BlockKey> out;
  out.reserve(static_cast<size_t>(keys.size()));
  for (const v1::BlockKey& k : keys) out.push_back(FromProto(k));
  return out;
}

void FillGet(const GetResult& r, v1::GetResponse* out) {
  out->set_size(r.size);
  out->set_lease_expires_unix_ms(r.lease_expires_unix_ms);
  for (const ReplicaView& v : r.replicas) ToProto(v, out->add_replicas());
}

void FillReplicas(const std::vector<ReplicaView>& views,
                  google::protobuf::RepeatedPtrField<v1::Replica>* out) {
  for (const ReplicaView& v : views) ToProto(v, out->Add());
}

}  // namespace

grpc::Status MasterService::Gate() const {
  if (leadership_ == nullptr) return grpc::Status::OK;
  return ToGrpcStatus(leadership_->Check());
}

grpc::Status MasterService::MountSegment(Ctx*, const v1::MountSegmentRequest* req,
                                         v1::MountSegmentResponse* resp) {
  if (grpc::Status g = Gate(); !g.ok()) return g;
  auto tier = TierFromProto(req->segment().tier());
  if (!tier.ok()) return ToGrpcStatus(tier.status());
  Status s = core_.MountSegment(FromProto(req->segment()));
  if (s.ok()) {
    Logger("master")->info("mounted {} segment of {} ({} bytes)", TierName(*tier),
                           req->segment().node_id(), req->segment().capacity_bytes());
  }
  resp->set_heartbeat_interval_ms(heartbeat_interval_ms_);
  return ToGrpcStatus(s);
}

grpc::Status MasterService::UnmountSegment(Ctx*, const v1::UnmountSegmentRequest* req,
                                           v1::UnmountSegmentResponse*) {
  if (grpc::Status g = Gate(); !g.ok()) return g;
  auto tier = TierFromProto(req->tier());
  if (!tier.ok()) return ToGrpcStatus(tier.status());
  return ToGrpcStatus(core_.UnmountSegment(req->node_id(), *tier));
}

grpc::Status MasterService::Heartbeat(Ctx*, const v1::StoreHeartbeatRequest* req,
                                      v1::StoreHeartbeatResponse* resp) {
  if (grpc::Status g = Gate(); !g.ok()) return g;
  std::vector<TaskResult> done;
  for (const v1::NodeTaskResult& r : req->done()) done.push_back(TaskResult{r.id(), r.ok()});
  HeartbeatReply reply = core_.Heartbeat(req->node_id(), done);
  resp->set_reregister(reply.reregister);
  for (const NodeTask& t : reply.tasks) ToProto(t, resp->add_tasks());
  return grpc::Status::OK;
}

grpc::Status MasterService::ReportReplicas(Ctx*, const v1::ReportReplicasRequest* req,
                                           v1::ReportReplicasResponse* resp) {
  if (grpc::Status g = Gate(); !g.ok()) return g;
  auto tier = TierFromProto(req->tier());
  if (!tier.ok()) return ToGrpcStatus(tier.status());
  std::vector<ReportedReplica> reported;
  for (const v1::ReportedReplica& r : req->replicas()) {
    reported.push_back(ReportedReplica{FromProto(r.key()), r.size(), r.offset()});
  }
  auto refused = core_.ReportReplicas(req->node_id(), *tier, reported);
  if (!refused.ok()) return ToGrpcStatus(refused.status());
  for (const BlockKey& k : *refused) ToProto(k, resp->add_refused());
  Logger("master")->info("{} reported {} {} replicas, {} refused", req->node_id(), reported.size(),
                         TierName(*tier), refused->size());
  return grpc::Status::OK;
}

grpc::Status MasterService::PutStart(Ctx*, const v1::PutStartRequest* req,
                                     v1::PutStartResponse* resp) {
  if (grpc::Status g = Gate(); !g.ok()) return g;
  std::string preferred = req->preferred_node_id();
  if (preferred.empty()) preferred = req->header().caller_node_id();
  auto r = core_.PutStart(FromProto(req->key()), req->size(), req->replicas(), preferred);
  if (!r.ok()) return ToGrpcStatus(r.status());
  FillReplicas(*r, resp->mutable_replicas());
  return grpc::Status::OK;
}

grpc::Status MasterService::PutEnd(Ctx*, const v1::PutEndRequest* req, v1::PutEndResponse*) {
  if (grpc::Status g = Gate(); !g.ok()) return g;
  return ToGrpcStatus(core_.PutEnd(FromProto(req->key())));
}

grpc::Status MasterService::PutRevoke(Ctx*, const v1::PutRevokeRequest* req,
                                      v1::PutRevokeResponse*) {
  if (grpc::Status g = Gate(); !g.ok()) return g;
  return ToGrpcStatus(core_.PutRevoke(FromProto(req->key())));
}

grpc::Status MasterService::Get(Ctx*, const v1::GetRequest* req, v1::GetResponse* resp) {
  if (grpc::Status g = Gate(); !g.ok()) return g;
  auto r = core_.Get(FromProto(req->key()), req->reader_node_id());
  if (!r.ok()) return ToGrpcStatus(r.status());
  FillGet(*r, resp);
  return grpc::Status::OK;
}

grpc::Status MasterService::BatchGet(Ctx*, const v1::BatchGetRequest* req,
                                     v1::BatchGetResponse* resp) {
  if (grpc::Status g = Gate(); !g.ok()) return g;
  const std::vector<BlockKey> keys = KeysFrom(req->keys());
  auto r = core_.BatchGet(keys, req->reader_node_id());
  if (!r.ok()) return ToGrpcStatus(r.status());
  for (const StatusOr<GetResult>& one : *r) {
    v1::GetResponse* out = resp->add_results();
    if (one.ok()) FillGet(*one, out);  // a missing key stays empty
  }
  return grpc::Status::OK;
}

grpc::Status MasterService::Exists(Ctx*, const v1::ExistsRequest* req, v1::ExistsResponse* resp) {
  if (grpc::Status g = Gate(); !g.ok()) return g;
  resp->set_exists(core_.Exists(FromProto(req->key())));
  return grpc::Status::OK;
}

grpc::Status MasterService::BatchExists(Ctx*, const v1::BatchExistsRequest* req,
                                        v1::BatchExistsResponse* resp) {
  if (grpc::Status g = Gate(); !g.ok()) return g;
  const std::vector<BlockKey> keys = KeysFrom(req->keys());
  auto r = core_.BatchExists(keys);
  if (!r.ok()) return ToGrpcStatus(r.status());
  for (bool b : *r) resp->add_exists(b);
  return grpc::Status::OK;
}

grpc::Status MasterService::Remove(Ctx*, const v1::RemoveRequest* req, v1::RemoveResponse*) {
  if (grpc::Status g = Gate(); !g.ok()) return g;
  return ToGrpcStatus(core_.Remove(FromProto(req->key())));
}

grpc::Status MasterService::MatchPrefix(Ctx*, const v1::MatchPrefixRequest* req,
                                        v1::MatchPrefixResponse* resp) {
  if (grpc::Status g = Gate(); !g.ok()) return g;
  const std::vector<BlockKey> keys = KeysFrom(req->keys());
  auto r = core_.MatchPrefix(keys);
  if (!r.ok()) return ToGrpcStatus(r.status());
  for (const NodeMatch& m : r->nodes) {
    v1::NodeMatch* out = resp->add_nodes();
    out->set_node_id(m.node_id);
    out->set_matched_blocks(m.matched_blocks);
  }
  resp->set_best_node_id(r->best_node_id);
  resp->set_best_matched_blocks(r->best_matched_blocks);
  return grpc::Status::OK;
}

grpc::Status MasterService::ChangeReplica(Ctx*, const v1::ChangeReplicaRequest* req,
                                          v1::ChangeReplicaResponse* resp) {
  if (grpc::Status g = Gate(); !g.ok()) return g;
  auto r = core_.ChangeReplica(FromProto(req->key()), req->replicas());
  if (!r.ok()) return ToGrpcStatus(r.status());
  FillReplicas(*r, resp->mutable_replicas());
  return grpc::Status::OK;
}

grpc::Status MasterService::GetStats(Ctx*, const v1::GetStatsRequest*, v1::GetStatsResponse* resp) {
  if (grpc::Status g = Gate(); !g.ok()) return g;
  const MasterStats s = core_.Stats();
  resp->set_objects(s.objects);
  resp->set_nodes(s.nodes);
  resp->set_dram_replicas(s.dram.replicas);
  resp->set_dram_bytes(s.dram.bytes);
  resp->set_dram_capacity_bytes(s.dram.capacity_bytes);
  resp->set_ssd_replicas(s.ssd.replicas);
  resp->set_ssd_bytes(s.ssd.bytes);
  resp->set_ssd_capacity_bytes(s.ssd.capacity_bytes);
  resp->set_hits(s.hits);
  resp->set_misses(s.misses);
  resp->set_evictions(s.evictions);
  resp->set_demotions(s.demotions);
  resp->set_promotions(s.promotions);
  resp->set_puts(s.puts);
  resp->set_gets(s.gets);
  resp->set_queued_node_tasks(s.queued_tasks);
  resp->set_prometheus_text(metrics_.RenderPrometheus());
  resp->set_server_unix_ms(Clock::Real().UnixMillis());
  return grpc::Status::OK;
}

grpc::Status MasterService::ReportUnreachable(Ctx*, const v1::StoreReportUnreachableRequest* req,
                                              v1::StoreReportUnreachableResponse*) {
  if (grpc::Status g = Gate(); !g.ok()) return g;
  if (req->node_id().empty()) {
    return ToGrpcStatus(absl::InvalidArgumentError("ReportUnreachable: node_id is empty"));
  }
  Status s = core_.ReportUnreachable(req->node_id());
  if (s.ok()) {
    Logger("master")->warn("{} reports node {} unreachable ({}); it is suspect until it heartbeats",
                           req->header().caller_node_id(), req->node_id(), req->reason());
  }
  return ToGrpcStatus(s);
}

}  // namespace kvc::store

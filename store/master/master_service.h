// MasterService: the kvc.v1.StoreMaster gRPC service over a MasterCore. Converts
// messages, validates what the core cannot (tiers, empty keys), maps Status to
// gRPC with its reason. Thread-safe (the core is).
#pragma once

#include "kvc/common/metrics.h"
#include "kvc/v1/store_master.grpc.pb.h"
#include "store/master/leadership.h"
#include "store/master/master_core.h"

namespace kvc::store {

class MasterService final : public v1::StoreMaster::Service {
 public:
  // `core` and `metrics` are borrowed and must outlive the service.
  // `leadership` (borrowed, may be null = always serve): in etcd mode, while its
  // Check() fails every RPC fails with it, UNAVAILABLE "NOT_LEADER" (this master
  // is a standby, or a leader that cannot confirm its lease).
  MasterService(MasterCore& core, MetricsRegistry& metrics, uint32_t heartbeat_interval_ms,
                const Leadership* leadership = nullptr)
      : core_(core),
        metrics_(metrics),
        heartbeat_interval_ms_(heartbeat_interval_ms),
        leadership_(leadership) {}

  using Ctx = grpc::ServerContext;
  grpc::Status MountSegment(Ctx*, const v1::MountSegmentRequest*,
                            v1::MountSegmentResponse*) override;
  grpc::Status UnmountSegment(Ctx*, const v1::UnmountSegmentRequest*,
                              v1::UnmountSegmentResponse*) override;
  grpc::Status Heartbeat(Ctx*, const v1::StoreHeartbeatRequest*,
                         v1::StoreHeartbeatResponse*) override;
  grpc::Status ReportReplicas(Ctx*, const v1::ReportReplicasRequest*,
                              v1::ReportReplicasResponse*) override;
  grpc::Status PutStart(Ctx*, const v1::PutStartRequest*, v1::PutStartResponse*) override;
  grpc::Status PutEnd(Ctx*, const v1::PutEndRequest*, v1::PutEndResponse*) override;
  grpc::Status PutRevoke(Ctx*, const v1::PutRevokeRequest*, v1::PutRevokeResponse*) override;
  // Each item through PutStart / PutEnd / PutRevoke above (master_service_batch.cc).
  grpc::Status BatchPutStart(Ctx*, const v1::BatchPutStartRequest*,
                             v1::BatchPutStartResponse*) override;
  grpc::Status BatchPutEnd(Ctx*, const v1::BatchPutEndRequest*, v1::BatchPutEndResponse*) override;
  grpc::Status Get(Ctx*, const v1::GetRequest*, v1::GetResponse*) override;
  grpc::Status BatchGet(Ctx*, const v1::BatchGetRequest*, v1::BatchGetResponse*) override;
  grpc::Status Exists(Ctx*, const v1::ExistsRequest*, v1::ExistsResponse*) override;
  grpc::Status BatchExists(Ctx*, const v1::BatchExistsRequest*, v1::BatchExistsResponse*) override;
  grpc::Status Remove(Ctx*, const v1::RemoveRequest*, v1::RemoveResponse*) override;
  grpc::Status MatchPrefix(Ctx*, const v1::MatchPrefixRequest*, v1::MatchPrefixResponse*) override;
  grpc::Status ChangeReplica(Ctx*, const v1::ChangeReplicaRequest*,
                             v1::ChangeReplicaResponse*) override;
  grpc::Status GetStats(Ctx*, const v1::GetStatsRequest*, v1::GetStatsResponse*) override;
  grpc::Status ReportUnreachable(Ctx*, const v1::StoreReportUnreachableRequest*,
                                 v1::StoreReportUnreachableResponse*) override;

 private:
  grpc::Status Gate() const;
  MasterCore& core_;
  MetricsRegistry& metrics_;
  const uint32_t heartbeat_interval_ms_;
  const Leadership* leadership_;
};

}  // namespace kvc::store

#include "kvc/membership/registry_service.h"

#include "kvc/common/logging.h"
#include "kvc/rpc/auth.h"
#include "kvc/rpc/grpc_status.h"

namespace kvc::membership {

RegistryService::RegistryService(RegistryBackend& backend, std::string cluster_token,
                                 std::function<Status()> gate)
    : backend_(backend), cluster_token_(std::move(cluster_token)), gate_(std::move(gate)) {}

Status RegistryService::Admit(Ctx* ctx, const char* what) const {
  if (Status auth = CheckBearerToken(*ctx, cluster_token_); !auth.ok()) {
    LogRefusedCall("membership", ctx->peer(), what, std::string(auth.message()));
    return auth;
  }
  if (gate_) return gate_();
  return Status();
}

grpc::Status RegistryService::Register(Ctx* ctx, const v1::RegisterNodeRequest* req,
                                       v1::RegisterNodeResponse* resp) {
  if (Status s = Admit(ctx, "registration"); !s.ok()) return ToGrpcStatus(s);
  if (Status s = backend_.Register(*req); !s.ok()) {
    Logger("membership")->warn("refused registration of node {}: {}", req->node_id(), s.message());
    return ToGrpcStatus(s);
  }
  Logger("membership")
      ->info("node {} registered at {}{}", req->node_id(), req->rpc_address(),
             req->draining() ? " (draining)" : "");
  resp->set_heartbeat_interval_ms(backend_.heartbeat_interval_ms());
  return grpc::Status::OK;
}

grpc::Status RegistryService::Heartbeat(Ctx* ctx, const v1::NodeHeartbeatRequest* req,
                                        v1::NodeHeartbeatResponse* resp) {
  if (Status s = Admit(ctx, "heartbeat"); !s.ok()) return ToGrpcStatus(s);
  auto r = backend_.Heartbeat(*req);
  if (!r.ok()) return ToGrpcStatus(r.status());
  *resp = *std::move(r);
  return grpc::Status::OK;
}

grpc::Status RegistryService::Deregister(Ctx* ctx, const v1::DeregisterNodeRequest* req,
                                         v1::DeregisterNodeResponse*) {
  if (Status s = Admit(ctx, "deregistration"); !s.ok()) return ToGrpcStatus(s);
  Status s = backend_.Deregister(req->node_id());
  if (s.ok()) Logger("membership")->info("node {} deregistered", req->node_id());
  return ToGrpcStatus(s);
}

grpc::Status RegistryService::ListMembers(Ctx* ctx, const v1::ListMembersRequest*,
                                          v1::ListMembersResponse* resp) {
  if (Status s = Admit(ctx, "ListMembers"); !s.ok()) return ToGrpcStatus(s);
  auto r = backend_.ListMembers();
  if (!r.ok()) return ToGrpcStatus(r.status());
  *resp = *std::move(r);
  return grpc::Status::OK;
}

grpc::Status RegistryService::SetDraining(Ctx* ctx, const v1::SetNodeDrainingRequest* req,
                                          v1::SetNodeDrainingResponse* resp) {
  if (Status s = Admit(ctx, "SetDraining"); !s.ok()) return ToGrpcStatus(s);
  auto r = backend_.SetDraining(req->node_id(), req->drain());
  if (!r.ok()) return ToGrpcStatus(r.status());
  Logger("membership")
      ->info("{} node {}", req->drain() ? "draining" : "undraining", req->node_id());
  *resp->mutable_node() = *std::move(r);
  return grpc::Status::OK;
}

grpc::Status RegistryService::ReportUnreachable(Ctx* ctx, const v1::ReportUnreachableRequest* req,
                                                v1::ReportUnreachableResponse* resp) {
  if (Status s = Admit(ctx, "ReportUnreachable"); !s.ok()) return ToGrpcStatus(s);
  auto r = backend_.MarkUnreachable(req->node_id(), req->reason());
  if (!r.ok()) return ToGrpcStatus(r.status());
  if (*r) {
    Logger("membership")
        ->warn("node {} reported unreachable by {}: {}; down until its next heartbeat",
               req->node_id(), req->reporter(), req->reason());
  }
  resp->set_found(*r);
  return grpc::Status::OK;
}

}  // namespace kvc::membership

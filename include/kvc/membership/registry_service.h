// The kvc.v1.NodeRegistry gRPC service over a RegistryBackend: kvc-master serves it
// for the cluster (membership shared by every conductor), a conductor serves it for
// nodes that register with it directly. Every call must carry the cluster token
// ("authorization: Bearer", UNAUTHENTICATED otherwise; empty token = open); while
// `gate` fails (an etcd standby: NOT_LEADER) every call fails with it and nothing
// changes. Thread-safe.
#pragma once

#include <functional>
#include <string>

#include "kvc/membership/node_registry.h"
#include "kvc/v1/node.grpc.pb.h"

namespace kvc::membership {

class RegistryService final : public v1::NodeRegistry::Service {
 public:
  // `backend` is borrowed and must outlive the service. `gate` may be empty.
  RegistryService(RegistryBackend& backend, std::string cluster_token,
                  std::function<Status()> gate = nullptr);

  using Ctx = grpc::ServerContext;
  grpc::Status Register(Ctx*, const v1::RegisterNodeRequest*, v1::RegisterNodeResponse*) override;
  grpc::Status Heartbeat(Ctx*, const v1::NodeHeartbeatRequest*,
                         v1::NodeHeartbeatResponse*) override;
  grpc::Status Deregister(Ctx*, const v1::DeregisterNodeRequest*,
                          v1::DeregisterNodeResponse*) override;
  grpc::Status ListMembers(Ctx*, const v1::ListMembersRequest*, v1::ListMembersResponse*) override;
  grpc::Status SetDraining(Ctx*, const v1::SetNodeDrainingRequest*,
                           v1::SetNodeDrainingResponse*) override;
  grpc::Status ReportUnreachable(Ctx*, const v1::ReportUnreachableRequest*,
                                 v1::ReportUnreachableResponse*) override;

 private:
  // The token, then the gate; OK when the call may proceed.
  Status Admit(Ctx* ctx, const char* what) const;

  RegistryBackend& backend_;
  const std::string cluster_token_;
  const std::function<Status()> gate_;
};

}  // namespace kvc::membership

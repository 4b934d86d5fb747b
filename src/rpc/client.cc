#include "kvc/rpc/client.h"

#include "grpc/health/v1/health.grpc.pb.h"
#include "kvc/rpc/grpc_status.h"
#include "kvc/rpc/tls.h"

namespace kvc {

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target) {
  grpc::ChannelArguments args;
  // Fail fast instead of waiting out a long reconnect backoff after a peer restart.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  return grpc::CreateCustomChannel(target, ProcessChannelCredentials(), args);
}

StatusOr<std::string> CheckHealth(const std::string& target, std::chrono::milliseconds timeout,
                                  const std::string& service) {
  auto stub = grpc::health::v1::Health::NewStub(MakeChannel(target));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(service);
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = stub->Check(&ctx, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
}

}  // namespace kvc

// The standard grpc.health.v1.Health service, implemented on kvc's side so the
// serving status is ours to set (SERVING at start, NOT_SERVING when draining or
// shutting down). Thread-safe.
#pragma once

#include <condition_variable>
#include <map>
#include <mutex>
#include <string>

#include "grpc/health/v1/health.grpc.pb.h"

namespace kvc {

class HealthService final : public grpc::health::v1::Health::Service {
 public:
  using ServingStatus = grpc::health::v1::HealthCheckResponse::ServingStatus;

  HealthService();
  // Sets the status of `service` ("" = the whole server).
  void SetStatus(const std::string& service, ServingStatus status);
  // Marks every service NOT_SERVING and ends every Watch stream.
  void Shutdown();

  grpc::Status Check(grpc::ServerContext* context,
                     const grpc::health::v1::HealthCheckRequest* request,
                     grpc::health::v1::HealthCheckResponse* response) override;
  // Streams the current status, then every change, until the client cancels or
  // the service shuts down.
  grpc::Status Watch(grpc::ServerContext* context,
                     const grpc::health::v1::HealthCheckRequest* request,
                     grpc::ServerWriter<grpc::health::v1::HealthCheckResponse>* writer) override;

 private:
  ServingStatus StatusOf(const std::string& service) const;  // REQUIRES: mu_ held

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::map<std::string, ServingStatus> statuses_;  // guarded by mu_
  bool shut_down_ = false;                         // guarded by mu_
};

}  // namespace kvc

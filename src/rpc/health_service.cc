#include "kvc/rpc/health_service.h"

#include <chrono>

namespace kvc {

using grpc::health::v1::HealthCheckResponse;

HealthService::HealthService() { statuses_[""] = HealthCheckResponse::SERVING; }

void HealthService::SetStatus(const std::string& service, ServingStatus status) {
  std::lock_guard lock(mu_);
  if (shut_down_) return;
  statuses_[service] = status;
  changed_.notify_all();
}

void HealthService::Shutdown() {
  std::lock_guard lock(mu_);
  shut_down_ = true;
  for (auto& [name, status] : statuses_) status = HealthCheckResponse::NOT_SERVING;
  changed_.notify_all();
}

HealthService::ServingStatus HealthService::StatusOf(const std::string& service) const {
  auto it = statuses_.find(service);
  return it == statuses_.end() ? HealthCheckResponse::SERVICE_UNKNOWN : it->second;
}

grpc::Status HealthService::Check(grpc::ServerContext*,
                                  const grpc::health::v1::HealthCheckRequest* request,
                                  HealthCheckResponse* response) {
  std::lock_guard lock(mu_);
  const ServingStatus status = StatusOf(request->service());
  if (status == HealthCheckResponse::SERVICE_UNKNOWN) {
    return grpc::Status(grpc::StatusCode::NOT_FOUND,
                        "unknown service '" + request->service() + "'");
  }
  response->set_status(status);
  return grpc::Status::OK;
}

grpc::Status HealthService::Watch(grpc::ServerContext* context,
                                  const grpc::health::v1::HealthCheckRequest* request,
                                  grpc::ServerWriter<HealthCheckResponse>* writer) {
  std::unique_lock lock(mu_);
  bool first = true;
  ServingStatus last = HealthCheckResponse::UNKNOWN;
  while (true) {
    const ServingStatus now = StatusOf(request->service());
    if (first || now != last) {
      HealthCheckResponse response;
      response.set_status(now);
      lock.unlock();
      const bool ok = writer->Write(response);
      lock.lock();
      if (!ok) return grpc::Status::OK;
      first = false;
      last = now;
    }
    if (shut_down_) return grpc::Status::OK;
    // Wake periodically to notice a cancelled client (no callback in the sync API).
    changed_.wait_for(lock, std::chrono::milliseconds(200));
    if (context->IsCancelled()) return grpc::Status::CANCELLED;
  }
}

}  // namespace kvc

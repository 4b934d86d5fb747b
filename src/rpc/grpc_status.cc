#include "kvc/rpc/grpc_status.h"

#include "kvc/v1/common.pb.h"

namespace kvc {

grpc::Status ToGrpcStatus(const Status& status) {
  if (status.ok()) return grpc::Status::OK;
  const auto code = static_cast<grpc::StatusCode>(status.code());
  const std::string reason = ReasonOf(status);
  if (reason.empty()) return grpc::Status(code, std::string(status.message()));
  kvc::v1::ErrorDetail detail;
  detail.set_reason(reason);
  detail.set_message(std::string(status.message()));
  return grpc::Status(code, std::string(status.message()), detail.SerializeAsString());
}

Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return Status();
  Status out(static_cast<absl::StatusCode>(status.error_code()), status.error_message());
  if (!status.error_details().empty()) {
    kvc::v1::ErrorDetail detail;
    if (detail.ParseFromString(status.error_details()) && !detail.reason().empty()) {
      out = WithReason(std::move(out), detail.reason());
    }
  }
  return out;
}

}  // namespace kvc

// Conversion between absl::Status and grpc::Status at the RPC edge. The codes are
// the same numbers; the message is kept; a reason attached with WithReason travels
// as a serialized kvc.v1.ErrorDetail in grpc::Status::error_details().
#pragma once

#include <grpcpp/support/status.h>

#include "kvc/common/status.h"

namespace kvc {

[[nodiscard]] grpc::Status ToGrpcStatus(const Status& status);
[[nodiscard]] Status FromGrpcStatus(const grpc::Status& status);

}  // namespace kvc

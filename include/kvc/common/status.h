// Errors are values: absl::Status / absl::StatusOr everywhere, plus helpers to
// propagate them and to cross the gRPC boundary without losing the reason.
#pragma once

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace kvc {

using Status = absl::Status;
template <typename T>
using StatusOr = absl::StatusOr<T>;

// The payload URL under which a machine-readable reason ("NO_SPACE") travels on an
// absl::Status. It crosses gRPC as a kvc.v1.ErrorDetail in the status details.
inline constexpr const char* kReasonPayloadUrl = "type.kvc.dev/kvc.v1.ErrorDetail.reason";

// Returns `status` with a stable, machine-readable reason attached.
// REQUIRES: reason is UPPER_SNAKE, e.g. "PROMPT_TOO_LONG".
[[nodiscard]] Status WithReason(Status status, std::string_view reason);

// The reason attached by WithReason, or "" when there is none.
[[nodiscard]] std::string ReasonOf(const Status& status);

}  // namespace kvc

#define KVC_STATUS_CONCAT_INNER_(a, b) a##b
#define KVC_STATUS_CONCAT_(a, b) KVC_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function when `expr` yields a non-OK Status.
#define KVC_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::absl::Status kvc_status_ = (expr);       \
    if (!kvc_status_.ok()) return kvc_status_; \
  } while (0)

// `KVC_ASSIGN_OR_RETURN(auto x, Foo());` declares/assigns x from a StatusOr or
// returns its error from the enclosing function.
#define KVC_ASSIGN_OR_RETURN(lhs, expr) \
  KVC_ASSIGN_OR_RETURN_IMPL_(KVC_STATUS_CONCAT_(kvc_statusor_, __LINE__), lhs, expr)
#define KVC_ASSIGN_OR_RETURN_IMPL_(var, lhs, expr) \
  auto var = (expr);                               \
  if (!var.ok()) return std::move(var).status();   \
  lhs = std::move(var).value()

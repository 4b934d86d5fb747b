#include "kvc/common/status.h"

#include "absl/strings/cord.h"

namespace kvc {

// Debian's abseil has its own string_view type, so std::string_view is converted
// explicitly at these calls.
Status WithReason(Status status, std::string_view reason) {
  if (status.ok()) return status;
  status.SetPayload(kReasonPayloadUrl, absl::Cord(absl::string_view(reason.data(), reason.size())));
  return status;
}

std::string ReasonOf(const Status& status) {
  auto payload = status.GetPayload(kReasonPayloadUrl);
  return payload ? std::string(*payload) : std::string();
}

}  // namespace kvc

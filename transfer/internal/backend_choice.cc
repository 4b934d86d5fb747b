#include "transfer/internal/backend_choice.h"

#include "absl/strings/str_cat.h"

namespace kvc::transfer::internal {

bool SameHost(const std::string& host_id, const std::string& boot_id,
              const SegmentDescriptor& remote) {
  return !host_id.empty() && remote.host_id == host_id && !boot_id.empty() &&
         remote.boot_id == boot_id;
}

std::vector<std::string> ChooseBackends(const LocalCapabilities& local,
                                        const SegmentDescriptor& remote) {
  if (SameHost(local.host_id, local.boot_id, remote)) return {"shm", "tcp"};
  if (local.verbs && !remote.verbs_nics.empty() && !remote.tcp_endpoints.empty()) {
    return {"verbs", "tcp"};
  }
  return {"tcp"};
}

std::string ChoiceReason(const LocalCapabilities& local, const SegmentDescriptor& remote) {
  if (SameHost(local.host_id, local.boot_id, remote)) {
    return absl::StrCat("same host id '", local.host_id, "'");
  }
  if (remote.host_id != local.host_id) {
    return absl::StrCat("host id '", remote.host_id, "' differs from ours '", local.host_id, "'");
  }
  if (remote.boot_id != local.boot_id) {
    return absl::StrCat("same host id '", local.host_id, "' but another kernel (boot id '",
                        remote.boot_id, "')");
  }
  return "host identity unknown";
}

}  // namespace kvc::transfer::internal

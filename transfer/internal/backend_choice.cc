#include "transfer/internal/backend_choice.h"

namespace kvc::transfer::internal {

std::vector<std::string> ChooseBackends(const LocalCapabilities& local,
                                        const SegmentDescriptor& remote) {
  if (!local.boot_id.empty() && remote.boot_id == local.boot_id) return {"shm", "tcp"};
  if (local.verbs && !remote.verbs_nics.empty() && !remote.tcp_endpoints.empty()) {
    return {"verbs", "tcp"};
  }
  return {"tcp"};
}

}  // namespace kvc::transfer::internal

#include "kvc/membership/membership_metrics.h"

#include <map>
#include <string>
#include <utility>

namespace kvc::membership {

void ExportMembershipGauges(const MembershipView& view, MetricsRegistry& metrics) {
  static constexpr std::pair<v1::NodeRole, const char*> kRoles[] = {
      {v1::NODE_ROLE_PREFILL, "prefill"}, {v1::NODE_ROLE_DECODE, "decode"}};
  static constexpr const char* kStates[] = {"up", "draining", "down"};
  std::map<std::pair<int, std::string>, int> counts;
  const std::vector<v1::NodeInfo> nodes = view.List();
  for (const v1::NodeInfo& n : nodes) ++counts[{n.role(), n.state()}];
  for (const auto& [role, role_name] : kRoles) {
    for (const char* state : kStates) {
      metrics
          .GetGauge("kvc_membership_nodes",
                    "Prefill/decode nodes by state, as the registry has them",
                    {{"role", role_name}, {"state", state}})
          .Set(counts[{role, state}]);
    }
  }
  metrics.GetGauge("kvc_membership_nodes_total", "Nodes in the membership registry")
      .Set(static_cast<double>(nodes.size()));
}

}  // namespace kvc::membership

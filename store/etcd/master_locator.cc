#include "store/etcd/master_locator.h"

#include "absl/strings/str_cat.h"
#include "kvc/common/reason.h"

namespace kvc::store {

StatusOr<std::unique_ptr<MasterLocator>> MasterLocator::Create(const std::string& master_address,
                                                               const std::string& etcd_endpoints,
                                                               const std::string& etcd_prefix) {
  if (etcd_endpoints.empty()) {
    return std::unique_ptr<MasterLocator>(new MasterLocator(master_address, nullptr, ""));
  }
  KVC_ASSIGN_OR_RETURN(auto endpoints, EtcdClient::ParseEndpoints(etcd_endpoints));
  auto etcd = std::make_unique<EtcdClient>(std::move(endpoints), std::chrono::seconds(2));
  return std::unique_ptr<MasterLocator>(new MasterLocator("", std::move(etcd), etcd_prefix));
}

StatusOr<std::string> MasterLocator::Resolve() {
  if (!etcd_) return fixed_;
  KVC_ASSIGN_OR_RETURN(auto leader, etcd_->Get(LeaderKey(prefix_)));
  if (!leader || leader->empty()) {
    return WithReason(absl::UnavailableError(absl::StrCat("no kvc-master is elected under ",
                                                          LeaderKey(prefix_), " in etcd yet")),
                      Reason::kNoLeader);
  }
  return *leader;
}

}  // namespace kvc::store

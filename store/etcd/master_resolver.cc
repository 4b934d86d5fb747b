#include "kvc/store/master_resolver.h"

#include <memory>

#include "store/etcd/master_locator.h"

namespace kvc::store {

StatusOr<MasterResolver> MakeMasterResolver(const std::string& master_address,
                                            const std::string& etcd_endpoints,
                                            const std::string& etcd_prefix) {
  KVC_ASSIGN_OR_RETURN(std::unique_ptr<MasterLocator> locator,
                       MasterLocator::Create(master_address, etcd_endpoints, etcd_prefix));
  std::shared_ptr<MasterLocator> shared = std::move(locator);
  return MasterResolver([shared]() { return shared->Resolve(); });
}

}  // namespace kvc::store

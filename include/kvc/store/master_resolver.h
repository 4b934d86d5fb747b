// Where the current kvc-master is, for components outside the store (worker
// membership, the conductor's membership watch): the fixed `master_address`, or,
// with `etcd_endpoints`, the address the elected master wrote under
// "<etcd_prefix>/leader" (read again on every call). Thread-safe.
#pragma once

#include <functional>
#include <string>

#include "kvc/common/status.h"

namespace kvc::store {

using MasterResolver = std::function<StatusOr<std::string>()>;

// InvalidArgument when `etcd_endpoints` does not parse. The resolver answers
// UNAVAILABLE (reason NO_LEADER) while no master is elected, or the etcd error.
[[nodiscard]] StatusOr<MasterResolver> MakeMasterResolver(const std::string& master_address,
                                                          const std::string& etcd_endpoints,
                                                          const std::string& etcd_prefix);

}  // namespace kvc::store

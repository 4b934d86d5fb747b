// MasterLocator: where the current kvc-master is. Without etcd it is the fixed
// configured address; with etcd it is the value of "<prefix>/leader", written by
// the elected master (see store/master/leader_election.h). Thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "kvc/common/status.h"
#include "store/etcd/etcd_client.h"

namespace kvc::store {

class MasterLocator {
 public:
  // `etcd_endpoints` "" = fixed mode (always `master_address`).
  static StatusOr<std::unique_ptr<MasterLocator>> Create(const std::string& master_address,
                                                         const std::string& etcd_endpoints,
                                                         const std::string& etcd_prefix);
  bool uses_etcd() const { return etcd_ != nullptr; }
  // The leader's address; UNAVAILABLE "NO_LEADER" while no master is elected.
  StatusOr<std::string> Resolve();

  static std::string LeaderKey(const std::string& prefix) { return prefix + "/leader"; }

 private:
  MasterLocator(std::string fixed, std::unique_ptr<EtcdClient> etcd, std::string prefix)
      : fixed_(std::move(fixed)), etcd_(std::move(etcd)), prefix_(std::move(prefix)) {}
  const std::string fixed_;
  const std::unique_ptr<EtcdClient> etcd_;
  const std::string prefix_;
};

}  // namespace kvc::store

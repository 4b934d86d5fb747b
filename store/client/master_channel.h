// MasterChannel: the gRPC stub of the current kvc-master, shared by the store's
// clients (StoreClient, PrefixMatcher). Fixed mode: the configured address; etcd
// mode: the elected leader, looked up again when the master stops answering.
// Thread-safe.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <span>

#include "kvc/common/reason.h"
#include "kvc/rpc/grpc_status.h"
#include "kvc/store/prefix_matcher.h"
#include "kvc/v1/store_master.grpc.pb.h"
#include "store/etcd/master_locator.h"

namespace kvc::store {

class MasterChannel {
 public:
  // `on_refresh` (may be empty) runs after every successful Refresh, outside the
  // channel's lock.
  explicit MasterChannel(std::unique_ptr<MasterLocator> locator,
                         std::function<void()> on_refresh = {});

  bool uses_etcd() const { return locator_->uses_etcd(); }
  // The current master's stub; when none is known, resolves first (null when
  // that fails).
  std::shared_ptr<v1::StoreMaster::Stub> Stub();
  // Asks the locator again and replaces the stub.
  Status Refresh();

  // Runs call(stub) against the master; in etcd mode an UNAVAILABLE answer makes
  // it look the leader up again and retry once.
  template <typename CallFn>
  Status Call(CallFn call) {
    auto stub = Stub();
    Status s = stub ? FromGrpcStatus(call(*stub))
                    : WithReason(absl::UnavailableError("no kvc-master known"), Reason::kNoLeader);
    if (s.code() == absl::StatusCode::kUnavailable && uses_etcd() && Refresh().ok()) {
      s = FromGrpcStatus(call(*Stub()));
    }
    return s;
  }

 private:
  const std::unique_ptr<MasterLocator> locator_;
  const std::function<void()> on_refresh_;
  std::mutex mu_;
  std::shared_ptr<v1::StoreMaster::Stub> stub_;  // guarded by mu_
};

// A context for one master or store-node call: deadline rpc_timeout_ms from now,
// the cluster token as bearer token.
std::unique_ptr<grpc::ClientContext> MasterContext(const MasterClientOptions& options);

// One MatchPrefix RPC through `master` (StoreClient and PrefixMatcher share it).
StatusOr<StorePrefixMatch> CallMatchPrefix(MasterChannel& master,
                                           const MasterClientOptions& options,
                                           std::span<const BlockKey> keys);

}  // namespace kvc::store

// MasterMembership: a conductor's view of the cluster membership that lives in
// kvc-master (the etcd-elected one). A thread reads it (NodeRegistry.ListMembers)
// every `poll` and delivers this conductor's unreachable reports; placement, the
// Admin API, /health and /metrics all read List(). So every conductor sharing a
// master shows the same nodes and states, at most one poll (+ one RPC) apart.
//
//   * A node this conductor reports unreachable is "down" here at once and, once
//     the report is delivered, for every conductor until its next heartbeat.
//     Undelivered (no master answers) the local mark lasts `local_mark`.
//   * While the master is being replaced (its answer says `settling`), nodes
//     missing from its answer keep their last known entry: they are still
//     re-registering. While no master answers at all, the last view stays (load
//     frozen) and a warning is logged once per outage.
//   * Nodes whose model id or block size differ from this conductor's are listed
//     with state "mismatch" and never available.
//   * Registrations sent to this conductor directly (the legacy conductor_address
//     of a worker without a master) are forwarded to the master.
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "kvc/common/clock.h"
#include "kvc/membership/node_registry.h"
#include "kvc/store/master_resolver.h"
#include "kvc/v1/node.grpc.pb.h"

namespace kvc::conductor {

struct MasterMembershipOptions {
  store::MasterResolver resolve;                // where the master is (required)
  std::string cluster_token;                    // sent to the master
  std::chrono::milliseconds poll{200};          // period of ListMembers
  std::chrono::milliseconds rpc_timeout{1000};  // deadline of each master call
  std::chrono::milliseconds local_mark{2000};   // an undelivered unreachable mark lasts this
  std::string model_id;                         // "" = not checked
  uint32_t block_tokens = 0;                    // 0 = not checked
  std::string reporter = "conductor";           // this conductor's id in reports
};

class MasterMembership final : public membership::MembershipView,
                               public membership::RegistryBackend {
 public:
  // `clock` is borrowed. Call Start() to begin polling.
  MasterMembership(MasterMembershipOptions options, const Clock& clock);
  ~MasterMembership() override;  // Stop()
  MasterMembership(const MasterMembership&) = delete;
  MasterMembership& operator=(const MasterMembership&) = delete;

  void Start();
  void Stop();  // joins the thread; idempotent
  // True once a ListMembers answer arrived.
  bool synced() const;
  // Polls done (answered or not), for tests.
  uint64_t polls() const;

  // ---- MembershipView ----
  std::vector<v1::NodeInfo> List() const override;
  // Through the master (rpc_timeout); the answer updates the view at once.
  [[nodiscard]] StatusOr<v1::NodeInfo> SetDraining(const std::string& node_id, bool drain) override;
  void ReportUnreachable(const std::string& node_id, const std::string& reason) override;

  // ---- RegistryBackend (direct registrations, forwarded) ----
  // Refuses another model or block size (MODEL_MISMATCH) before forwarding.
  [[nodiscard]] Status Register(const v1::RegisterNodeRequest& request) override;
  [[nodiscard]] StatusOr<v1::NodeHeartbeatResponse> Heartbeat(
      const v1::NodeHeartbeatRequest& request) override;
  [[nodiscard]] Status Deregister(const std::string& node_id) override;
  [[nodiscard]] StatusOr<v1::ListMembersResponse> ListMembers() const override;
  [[nodiscard]] StatusOr<bool> MarkUnreachable(const std::string& node_id,
                                               const std::string& reason) override;
  uint32_t heartbeat_interval_ms() const override { return interval_ms_.load(); }

 private:
  struct Mark {
    std::string reason;
    Clock::TimePoint until;  // when undelivered
    bool delivered = false;  // the master has it
    uint64_t delivered_poll = 0;
  };
  void Run();
  void PollOnce();
  void DeliverReports(v1::NodeRegistry::Stub& stub);
  void Apply(const v1::ListMembersResponse& resp, uint64_t poll);
  // The stub of the master now (resolving it); UNAVAILABLE when none is known.
  StatusOr<std::shared_ptr<v1::NodeRegistry::Stub>> Stub();
  void Forget();  // the master did not answer: resolve again next time
  void AddHeaders(grpc::ClientContext& ctx) const;
  v1::NodeInfo Shown(v1::NodeInfo n, const Clock::TimePoint now) const;  // REQUIRES: mu_ held

  const MasterMembershipOptions options_;
  const Clock& clock_;
  std::atomic<uint32_t> interval_ms_{500};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, v1::NodeInfo> nodes_;          // guarded by mu_: the master's last answer
  std::map<std::string, Mark> marks_;                  // guarded by mu_: unreachable reports
  std::vector<v1::ReportUnreachableRequest> pending_;  // guarded by mu_: not delivered yet
  mutable std::set<std::string> mismatch_logged_;      // guarded by mu_
  std::shared_ptr<v1::NodeRegistry::Stub> stub_;       // guarded by mu_
  std::string address_;                                // guarded by mu_
  bool synced_ = false;                                // guarded by mu_
  bool outage_logged_ = false;                         // guarded by mu_
  Clock::TimePoint last_answer_{};                     // guarded by mu_
  uint32_t timeout_ms_ = 3000;  // guarded by mu_: the master's heartbeat timeout
  uint64_t polls_ = 0;          // guarded by mu_
  bool stop_ = false;           // guarded by mu_
  bool wake_ = false;           // guarded by mu_
  std::thread thread_;
};

}  // namespace kvc::conductor

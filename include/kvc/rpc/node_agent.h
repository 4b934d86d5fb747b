// A worker's membership in the cluster: registers with the cluster's NodeRegistry
// (kvc-master, or the etcd-elected master found by `resolve`; a conductor only for
// a node without a master), heartbeats its load at the interval the registry asks
// for, registers again — re-resolving where the registry is — when a heartbeat is
// refused or unanswered (a restarted master, a new etcd leader), follows operator
// drain requests, announces its own drain (SIGTERM), and deregisters on Stop().
// Every call has a deadline; an unreachable registry is retried with backoff and
// never blocks the worker. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "kvc/common/config.h"
#include "kvc/common/status.h"
#include "kvc/v1/node.grpc.pb.h"

namespace kvc {

// Options of a worker role (prefill, decode) about joining the cluster.
struct MembershipOptions {
  // Legacy: a conductor to register with directly, used only when the node has no
  // master (master_address "" and no etcd). With a master, membership goes there.
  std::string conductor_address;
  std::string cluster_token;      // shared secret of the cluster's nodes
  std::string advertise_address;  // address others use to reach this node; empty = bound address
};
void BindMembershipOptions(OptionSet& set, MembershipOptions* options);
[[nodiscard]] Status ValidateMembershipOptions(const MembershipOptions& options);

struct NodeAgentOptions {
  std::string target;  // host:port of the registry, when `resolve` is empty
  // Where the registry is now (e.g. the etcd leader key); asked before every
  // registration. Empty = always `target`.
  std::function<StatusOr<std::string>()> resolve;
  std::string cluster_token;                          // sent as "authorization: Bearer"
  v1::RegisterNodeRequest registration;               // node_id, role, rpc_address, ...
  std::chrono::milliseconds rpc_timeout{2000};        // deadline of each call
  std::chrono::milliseconds max_retry_backoff{1000};  // cap of the registration retry delay
};

class NodeAgent {
 public:
  // `load` is called from the agent's thread before every heartbeat.
  NodeAgent(NodeAgentOptions options, std::function<v1::NodeLoad()> load);
  ~NodeAgent();  // calls Stop()
  NodeAgent(const NodeAgent&) = delete;
  NodeAgent& operator=(const NodeAgent&) = delete;

  // Starts the background thread. Call once.
  void Start();
  // Deregisters (best effort, within rpc_timeout) and joins the thread. Idempotent.
  void Stop();
  // From now on every heartbeat and registration says the node is draining (no new
  // work); one heartbeat goes out at once.
  void AnnounceDrain();

  bool registered() const { return registered_.load(); }
  // True while an operator asks this node to take no new work.
  bool draining() const { return drained_.load(); }
  // True once the registry answered a heartbeat or registration that announced the drain.
  bool drain_acknowledged() const { return drain_acked_.load(); }
  // The registry address of the last registration attempt ("" before the first).
  std::string registry_address() const;

 private:
  void Run();
  bool Register();
  bool Heartbeat();  // false when the node must register again
  // Waits `d`, until Stop() or until a heartbeat is due at once; false when stopping.
  bool WaitFor(std::chrono::milliseconds d);
  void AddHeaders(grpc::ClientContext& ctx) const;

  const NodeAgentOptions options_;
  const std::function<v1::NodeLoad()> load_;
  std::atomic<bool> registered_{false};
  std::atomic<bool> drained_{false};
  std::atomic<bool> self_draining_{false};
  std::atomic<bool> drain_acked_{false};
  std::atomic<uint32_t> interval_ms_{500};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;                         // guarded by mu_
  bool wake_ = false;                             // guarded by mu_: heartbeat now
  std::string address_;                           // guarded by mu_
  std::shared_ptr<v1::NodeRegistry::Stub> stub_;  // guarded by mu_
  std::thread thread_;
};

// What a serving worker adds to its registration, so a conductor can refuse a
// node whose model or block size differs from its own and knows the node's
// transfer segment. Empty / 0 = not announced.
struct NodeIdentity {
  std::string model_id;          // served model id, e.g. "kvc-tiny"
  uint32_t block_tokens = 0;     // tokens per KV block of the node's engine
  std::string transfer_segment;  // the node's transfer segment name
};

// Where a node registers: `target` fixed, or `resolve` (see NodeAgentOptions).
struct RegistryTarget {
  std::string target;
  std::function<StatusOr<std::string>()> resolve;
};

// Starts a NodeAgent for this process registering at `where` (nullptr when it
// names no registry). `bound_address` is the gRPC address the server got.
std::unique_ptr<NodeAgent> StartMembership(const MembershipOptions& options, RegistryTarget where,
                                           v1::NodeRole role, const std::string& node_id,
                                           const std::string& bound_address,
                                           std::function<v1::NodeLoad()> load,
                                           const NodeIdentity& identity = {});

}  // namespace kvc

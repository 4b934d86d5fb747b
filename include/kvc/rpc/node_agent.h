// A worker's membership in the cluster: registers with the conductor's
// NodeRegistry, heartbeats its load at the interval the conductor asks for,
// registers again when the conductor lost it (restart), follows drain requests,
// and deregisters on Stop(). Every call has a deadline; an unreachable conductor
// is retried with backoff and never blocks the worker. Thread-safe.
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

// Options of a worker role (prefill, decode, store) about joining the cluster.
struct MembershipOptions {
  std::string conductor_address;  // conductor gRPC host:port; empty = run standalone
  std::string cluster_token;      // shared secret of the cluster's nodes
  std::string advertise_address;  // address others use to reach this node; empty = bound address
};
void BindMembershipOptions(OptionSet& set, MembershipOptions* options);
[[nodiscard]] Status ValidateMembershipOptions(const MembershipOptions& options);

struct NodeAgentOptions {
  std::string conductor_address;                      // host:port of the conductor's gRPC server
  std::string cluster_token;                          // sent as "authorization: Bearer"
  kvc::v1::RegisterNodeRequest registration;          // node_id, role, rpc_address, ...
  std::chrono::milliseconds rpc_timeout{2000};        // deadline of each call
  std::chrono::milliseconds max_retry_backoff{2000};  // cap of the registration retry delay
};

class NodeAgent {
 public:
  // `load` is called from the agent's thread before every heartbeat.
  NodeAgent(NodeAgentOptions options, std::function<kvc::v1::NodeLoad()> load);
  ~NodeAgent();  // calls Stop()
  NodeAgent(const NodeAgent&) = delete;
  NodeAgent& operator=(const NodeAgent&) = delete;

  // Starts the background thread. Call once.
  void Start();
  // Deregisters (best effort, within rpc_timeout) and joins the thread. Idempotent.
  void Stop();

  bool registered() const { return registered_.load(); }
  // True while the conductor asks this node to take no new work.
  bool draining() const { return draining_.load(); }

 private:
  void Run();
  bool Register();
  bool Heartbeat();  // false when the node must register again
  // Waits `d` or until Stop(); returns false when stopping.
  bool WaitFor(std::chrono::milliseconds d);

  const NodeAgentOptions options_;
  const std::function<kvc::v1::NodeLoad()> load_;
  std::unique_ptr<kvc::v1::NodeRegistry::Stub> stub_;
  std::atomic<bool> registered_{false};
  std::atomic<bool> draining_{false};
  std::atomic<uint32_t> interval_ms_{500};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;  // guarded by mu_
  std::thread thread_;
};

// What a serving worker adds to its registration, so the conductor can refuse a
// node whose model or block size differs from the cluster's and knows the node's
// transfer segment. Empty / 0 = not announced (e.g. a store-only node).
struct NodeIdentity {
  std::string model_id;          // served model id, e.g. "kvc-tiny"
  uint32_t block_tokens = 0;     // tokens per KV block of the node's engine
  std::string transfer_segment;  // the node's transfer segment name
};

// Starts a NodeAgent for this process when `options.conductor_address` is set
// (nullptr otherwise). `bound_address` is the gRPC address the server got.
std::unique_ptr<NodeAgent> StartMembership(const MembershipOptions& options, kvc::v1::NodeRole role,
                                           const std::string& node_id,
                                           const std::string& bound_address,
                                           std::function<kvc::v1::NodeLoad()> load,
                                           const NodeIdentity& identity = {});

}  // namespace kvc

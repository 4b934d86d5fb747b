// WorkerNode: what kvc-prefill and kvc-decode share. It builds the engine backend
// from config, a transfer engine (peer-to-peer segment directory, cluster token),
// registers the engine's KV cache arena with it (remote accessible) and publishes
// the segment, embeds a store segment server (DRAM, optional SSD) mounted with the
// master, and a store client; after the gRPC server is up it registers with the
// cluster's membership (NodeAgent: kvc-master, the etcd-elected one with
// etcd.endpoints; a conductor only without a master) with the role's load callback,
// drains on SIGTERM, and tears everything down in the right order on stop.
//
//   auto node = WorkerNode::Create(options, v1::NODE_ROLE_DECODE);
//   auto worker = decode::DecodeWorker::Create(..., (*node)->engine(), (*node)->transfer());
//   return (*node)->Serve({worker->service()}, [&] { return worker->Load(); },
//                         [&] { worker->Shutdown(); });
//
// The cluster token (membership.cluster_token) is also the transfer engine's token
// when set, and every RPC of `services` must carry it (UNAUTHENTICATED otherwise;
// see kvc/rpc/service_auth.h). A built-in model is written to a temporary
// directory that is removed as soon as the engine has loaded it.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kvc/common/config.h"
#include "kvc/common/status.h"
#include "kvc/engine/backend.h"
#include "kvc/engine/engine.h"
#include "kvc/http/metrics_endpoint.h"
#include "kvc/rpc/exposure.h"
#include "kvc/rpc/node_agent.h"
#include "kvc/rpc/server.h"
#include "kvc/store/store_client.h"
#include "kvc/transfer/transfer_engine.h"
#include "kvc/v1/common.pb.h"

namespace kvc::worker {

struct WorkerNodeOptions {
  ServerOptions server;
  MembershipOptions membership;
  std::string model_dir;  // "" = the built-in kvc-tiny model (written to a temp dir)
  std::string model_id;   // "" = ServedModelId(model_dir)
  engine::EngineOptions engine;
  transfer::TransferEngineOptions transfer;
  std::string master_address = "127.0.0.1:50052";  // "" = no KV pool (no segment, no store client)
  // etcd HA: the elected master is found under "<etcd_prefix>/leader" (pool and
  // membership); "" = master_address.
  std::string etcd_endpoints;
  std::string etcd_prefix = "/kvc/master";
  // SIGTERM: how long running and queued requests may take to finish after the node
  // announced its drain (ms); then they are ended (SHUTTING_DOWN).
  uint32_t drain_timeout_ms = 30000;
  uint64_t store_dram_bytes = 256ull << 20;  // DRAM this node adds to the pool
  std::string store_ssd_path;                // "" = no SSD tier
  uint64_t store_ssd_bytes = 1ull << 30;
  // Prometheus /metrics of this process (engine, transfer, store client), labelled
  // role and node_id: metrics_port (-1 = off), metrics_address, metrics_port_file.
  http::MetricsEndpointOptions metrics;
};
// Binds server, membership, model, engine ("engine.*"), transfer ("transfer.*"),
// store ("store.*") and metrics endpoint (metrics_*) options.
void BindWorkerNodeOptions(OptionSet& set, WorkerNodeOptions* options,
                           const std::string& default_listen);
// Also refuses (INVALID_ARGUMENT naming the option) to announce an address peers
// cannot dial: a gRPC or transfer address that is unspecified, or loopback while
// the conductor or the master is on another host.
[[nodiscard]] Status ValidateWorkerNodeOptions(const WorkerNodeOptions& options);
// The gRPC, transfer and metrics listeners and the cluster token
// (membership.cluster_token) guarding them (kvc/rpc/exposure.h).
Exposure WorkerExposure(const WorkerNodeOptions& options);
// The gRPC address the node announces before it is bound: advertise_address,
// else listen_address (a wildcard host read as 127.0.0.1; the bound port
// replaces port 0 later, see PublishedAddress).
std::string AnnouncedRpcAddress(const WorkerNodeOptions& options);
// The transfer options the node runs with: transfer.cluster_token replaced by
// membership.cluster_token when set, and transfer.advertise_address defaulted
// from the announced gRPC host when transfer.listen_address is a wildcard
// (transfer::DefaultTransferAdvertise).
transfer::TransferEngineOptions EffectiveTransferOptions(const WorkerNodeOptions& options);

class WorkerNode {
 public:
  // The least time a draining node keeps serving new arrivals: conductors poll the
  // membership every membership_poll_ms (200) and may place a request just before.
  static constexpr std::chrono::milliseconds kDrainSettle{1000};

  // Call from the thread that will call Serve(), after BlockTerminationSignals(): it
  // also routes SIGTERM/SIGINT that reach threads started before main() (OpenBLAS)
  // to that thread.
  static StatusOr<std::unique_ptr<WorkerNode>> Create(const WorkerNodeOptions& options,
                                                      v1::NodeRole role);
  virtual ~WorkerNode() = default;

  virtual engine::Engine& engine() = 0;
  virtual transfer::TransferEngine& transfer() = 0;
  virtual store::StoreClient* store() = 0;  // null without a master
  virtual const std::string& node_id() const = 0;
  virtual const std::string& model_id() const = 0;

  // The served model's directory (for the built-in model: the temporary one, already
  // removed).
  virtual const std::string& model_dir() const = 0;

  // Serves `services` (borrowed; plus health and the store segment's service) until
  // SIGTERM / SIGINT, registered with the cluster and heartbeating `load`; then
  // drains: health NOT_SERVING, heartbeats say draining (conductors place nothing
  // new here), waits until `load` shows no queued, running or reserved request
  // (and at least kDrainSettle, so every conductor has seen the drain) or
  // drain_timeout_ms; then deregisters, runs `shutdown` (the role's Shutdown: ends
  // streams, stops its engine thread), unmounts the pool segment and stops the
  // server. Writes the bound port to server.port_file and prints "kvc-<role>
  // listening on ADDR". Serves /metrics too when metrics.port >= 0 (a bind
  // failure fails serving).
  // Returns the process exit code (0 on a clean stop, 1 when serving failed).
  virtual int Serve(const std::vector<grpc::Service*>& services, std::function<v1::NodeLoad()> load,
                    std::function<void()> shutdown = nullptr) = 0;
};

// Load as the engine alone sees it (free/total KV blocks), for a role that has no
// worker of its own yet.
v1::NodeLoad EngineLoad(engine::Engine& engine);

}  // namespace kvc::worker

#include "kvc/worker/worker_node.h"

#include <pthread.h>
#include <signal.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "absl/strings/str_cat.h"
#include "kvc/common/ids.h"
#include "kvc/common/logging.h"
#include "kvc/common/metrics.h"
#include "kvc/common/net_address.h"
#include "kvc/engine/model_config.h"
#include "kvc/engine/tiny_model.h"
#include "kvc/rpc/service_auth.h"
#include "kvc/store/master_resolver.h"
#include "kvc/store/segment_server.h"
#include "worker/internal/model_dir.h"

namespace kvc::worker {
namespace {

// Threads that libraries start before main() (OpenBLAS creates its pool in a load-time
// constructor) do not have SIGTERM/SIGINT blocked, so the kernel may deliver the
// signal to one of them, whose default action kills the process uncleanly. This
// handler only ever runs in such a thread and re-sends the signal to the serving
// thread, which has it blocked and takes it with sigwait (WaitForTerminationSignal).
pthread_t g_serving_thread;

void ForwardToServingThread(int sig) { pthread_kill(g_serving_thread, sig); }

void ForwardStraySignals() {
  g_serving_thread = pthread_self();
  struct sigaction sa {};
  sa.sa_handler = ForwardToServingThread;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
}

std::string RoleName(v1::NodeRole role) {
  switch (role) {
    case v1::NODE_ROLE_PREFILL:
      return "prefill";
    case v1::NODE_ROLE_DECODE:
      return "decode";
    default:
      return "worker";
  }
}

class WorkerNodeImpl : public WorkerNode {
 public:
  WorkerNodeImpl(WorkerNodeOptions options, v1::NodeRole role)
      : options_(std::move(options)), role_(role), role_name_(RoleName(role)) {}
  ~WorkerNodeImpl() override;

  Status Init();

  engine::Engine& engine() override { return *engine_; }
  transfer::TransferEngine& transfer() override { return *transfer_; }
  store::StoreClient* store() override { return store_client_.get(); }
  const std::string& node_id() const override { return node_id_; }
  const std::string& model_id() const override { return model_id_; }
  const std::string& model_dir() const override { return model_dir_; }
  int Serve(const std::vector<grpc::Service*>& services, std::function<v1::NodeLoad()> load,
            std::function<void()> shutdown) override;

 private:
  Status InitTransfer();
  Status InitEngine();
  Status RegisterArena();
  engine::KvArenaAllocator SharedArena();
  Status InitPool();
  StatusOr<std::unique_ptr<RunningServer>> StartServer(std::vector<grpc::Service*> services);
  bool HasMaster() const {
    return !options_.master_address.empty() || !options_.etcd_endpoints.empty();
  }
  // Where this node registers: the master (etcd leader) when it has one, else the
  // legacy conductor_address, else nowhere.
  StatusOr<RegistryTarget> MembershipTarget() const;
  // SIGTERM: announce the drain, wait for in-flight work (bounded by drain_timeout_ms).
  void Drain(RunningServer& server, NodeAgent* agent, const std::function<v1::NodeLoad()>& load);
  void Stop(RunningServer& server, NodeAgent* agent, const std::function<void()>& shutdown);

  WorkerNodeOptions options_;  // constant after Init
  const v1::NodeRole role_;
  const std::string role_name_;
  std::string node_id_;
  std::string model_id_;
  std::string model_dir_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<transfer::SegmentDirectory> directory_;
  std::unique_ptr<transfer::TransferEngine> transfer_;
  bool arena_registered_ = false;
  std::unique_ptr<store::SegmentServer> segment_;
  std::unique_ptr<store::StoreClient> store_client_;
};

Status WorkerNodeImpl::Init() {
  node_id_ = options_.server.node_id.empty() ? NewNodeId(role_name_) : options_.server.node_id;
  // One secret per cluster; transfer.advertise_address defaulted (worker_node.h).
  options_.transfer = EffectiveTransferOptions(options_);
  // The transfer engine first: the KV arena is its shared memory.
  KVC_RETURN_IF_ERROR(InitTransfer());
  KVC_RETURN_IF_ERROR(InitEngine());
  KVC_RETURN_IF_ERROR(RegisterArena());
  return InitPool();
}

Status WorkerNodeImpl::InitEngine() {
  // The engine reads the model into memory; a temporary built-in model directory is
  // removed as soon as that is done (`model` going out of scope), so even a killed
  // worker leaves nothing behind.
  KVC_ASSIGN_OR_RETURN(std::unique_ptr<ModelDir> model, ModelDir::Open(options_.model_dir));
  model_dir_ = model->path();
  engine::EngineOptions engine_options = options_.engine;
  engine_options.kv_arena = SharedArena();
  auto engine = engine::NewEngine(model->path(), engine_options);
  if (!engine.ok()) {
    return absl::Status(engine.status().code(),
                        absl::StrCat("engine (", options_.engine.backend, " backend, model ",
                                     model->path(), "): ", engine.status().message()));
  }
  engine_ = std::move(*engine);
  model_id_ = options_.model_id;
  if (model_id_.empty()) {
    // From the directory's config.json, not the engine's: the sim backend reports
    // its perfmodel preset as the model name.
    auto config = engine::LoadModelConfig(model->path());
    model_id_ = config.ok() ? engine::ServedModelId(model->path(), *config)
                            : std::filesystem::path(model->path()).filename().string();
  }
  return Status();
}

Status WorkerNodeImpl::InitTransfer() {
  directory_ = transfer::MakePeerSegmentDirectory(options_.transfer.cluster_token);
  KVC_ASSIGN_OR_RETURN(transfer_,
                       transfer::CreateTransferEngine(options_.transfer, directory_.get()));
  return Status();
}

// The KV arena in the transfer engine's shared memory: same-host peers (a prefill node
// writing this decode node's blocks, a store client reading prefill blocks) map it and
// copy with memcpy instead of cross-memory attach, and this node's target sees (and
// can refuse, on unregister) their accesses. Falls back to the heap when the kernel
// refuses the mapping.
engine::KvArenaAllocator WorkerNodeImpl::SharedArena() {
  struct State {
    transfer::TransferEngine* transfer;
    bool shared = false;
  };
  auto state = std::make_shared<State>(State{transfer_.get()});
  return {[state, role = role_name_](uint64_t bytes) -> StatusOr<void*> {
            auto shm = state->transfer->AllocateSharedMemory(bytes);
            if (shm.ok()) {
              state->shared = true;
              return *shm;
            }
            Logger(role)->warn("KV arena of {} bytes on the heap, not in shared memory: {}", bytes,
                               shm.status().ToString());
            void* heap = std::calloc(1, bytes);
            if (heap == nullptr)
              return absl::ResourceExhaustedError("cannot allocate the KV arena");
            return heap;
          },
          [state, role = role_name_](void* p) {
            if (!state->shared) return std::free(p);
            if (Status s = state->transfer->FreeSharedMemory(p); !s.ok()) {
              Logger(role)->warn("freeing the KV arena: {}", s.ToString());
            }
          }};
}

Status WorkerNodeImpl::RegisterArena() {
  // The whole KV arena is remote accessible: prefill nodes write decode blocks in place.
  std::span<uint8_t> arena = engine_->cache().Arena();
  KVC_RETURN_IF_ERROR(transfer_->RegisterMemory(arena.data(), arena.size(), "cpu:0", true));
  arena_registered_ = true;
  return transfer_->Publish();
}

Status WorkerNodeImpl::InitPool() {
  if (!HasMaster()) return Status();
  store::SegmentServerOptions seg;
  seg.node_id = node_id_;  // the id the conductor knows: MatchPrefix counts line up
  seg.master_address = options_.master_address;
  seg.etcd_endpoints = options_.etcd_endpoints;
  seg.etcd_prefix = options_.etcd_prefix;
  seg.dram_bytes = options_.store_dram_bytes;
  seg.ssd_path = options_.store_ssd_path;
  seg.ssd_bytes = options_.store_ssd_bytes;
  seg.staging_bytes = std::min<uint64_t>(seg.staging_bytes, options_.store_dram_bytes);
  seg.cluster_token = options_.membership.cluster_token;
  KVC_ASSIGN_OR_RETURN(segment_, store::SegmentServer::Create(seg, *transfer_));
  KVC_RETURN_IF_ERROR(transfer_->Publish());
  store::StoreClientOptions client;
  client.master_address = options_.master_address;
  client.etcd_endpoints = options_.etcd_endpoints;
  client.etcd_prefix = options_.etcd_prefix;
  client.node_id = node_id_;
  client.cluster_token = options_.membership.cluster_token;
  KVC_ASSIGN_OR_RETURN(store_client_, store::StoreClient::Create(client, *transfer_));
  return Status();
}

StatusOr<std::unique_ptr<RunningServer>> WorkerNodeImpl::StartServer(
    std::vector<grpc::Service*> services) {
  for (grpc::Service* s : services) {
    KVC_RETURN_IF_ERROR(RequireClusterToken(s, options_.membership.cluster_token));
  }
  // The pool's StoreNode service too: store clients send the cluster token.
  if (segment_) {
    KVC_RETURN_IF_ERROR(
        RequireClusterToken(segment_->service(), options_.membership.cluster_token));
    services.push_back(segment_->service());
  }
  KVC_ASSIGN_OR_RETURN(auto server, RunningServer::Start(role_name_, options_.server, services));
  if (!options_.server.port_file.empty()) {
    KVC_RETURN_IF_ERROR(WritePortFile(options_.server.port_file, server->port()));
  }
  return server;
}

int WorkerNodeImpl::Serve(const std::vector<grpc::Service*>& services,
                          std::function<v1::NodeLoad()> load, std::function<void()> shutdown) {
  auto log = Logger(role_name_);
  auto server = StartServer(services);
  StatusOr<std::unique_ptr<http::HttpServer>> metrics = std::unique_ptr<http::HttpServer>();
  if (server.ok()) {
    metrics = http::StartMetricsEndpoint(options_.metrics, MetricsRegistry::Default(),
                                         {{"role", role_name_}, {"node_id", node_id_}});
  }
  if (!server.ok() || !metrics.ok()) {
    log->error("{}", (server.ok() ? metrics.status() : server.status()).message());
    if (shutdown) shutdown();
    return 1;
  }
  if (*metrics) {
    log->info("Prometheus metrics on http://{}:{}/metrics", options_.metrics.address,
              (*metrics)->port());
  }
  // The pool registers the announced, not the bound, address: store clients dial it.
  if (segment_) {
    segment_->Run(PublishedAddress(options_.membership.advertise_address, (*server)->address()));
  }
  const std::string segment_name = transfer_->LocalSegment().name;
  log->info(
      "{} {} serving gRPC on {}: model {} ({} backend, {} KV blocks of {} tokens), "
      "transfer segment {}",
      role_name_, node_id_, (*server)->address(), model_id_, engine_->backend(),
      engine_->cache().num_blocks(), engine_->cache().geometry().block_tokens, segment_name);
  std::printf("kvc-%s listening on %s\n", role_name_.c_str(), (*server)->address().c_str());
  std::fflush(stdout);
  NodeIdentity identity{model_id_, static_cast<uint32_t>(engine_->cache().geometry().block_tokens),
                        segment_name};
  auto target = MembershipTarget();
  if (!target.ok()) {
    log->error("membership: {}", target.status().message());
    if (shutdown) shutdown();
    return 1;
  }
  auto agent = StartMembership(options_.membership, *std::move(target), role_, node_id_,
                               (*server)->address(), load, identity);
  const int sig = WaitForTerminationSignal();
  log->info("received {}: draining (up to {} ms), then shutting down",
            sig == SIGTERM ? "SIGTERM" : "SIGINT", options_.drain_timeout_ms);
  Drain(**server, agent.get(), load);
  Stop(**server, agent.get(), shutdown);
  metrics->reset();
  log->info("stopped");
  return 0;
}

StatusOr<RegistryTarget> WorkerNodeImpl::MembershipTarget() const {
  RegistryTarget where;
  if (HasMaster()) {
    if (!options_.membership.conductor_address.empty()) {
      Logger(role_name_)
          ->info("conductor_address {} is not used: membership is shared through kvc-master",
                 options_.membership.conductor_address);
    }
    if (options_.etcd_endpoints.empty()) {
      where.target = options_.master_address;
    } else {
      KVC_ASSIGN_OR_RETURN(
          where.resolve, store::MakeMasterResolver(options_.master_address, options_.etcd_endpoints,
                                                   options_.etcd_prefix));
    }
    return where;
  }
  where.target = options_.membership.conductor_address;  // legacy; "" = standalone
  return where;
}

void WorkerNodeImpl::Drain(RunningServer& server, NodeAgent* agent,
                           const std::function<v1::NodeLoad()>& load) {
  using Steady = std::chrono::steady_clock;
  server.health().SetStatus("", grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  if (agent) agent->AnnounceDrain();
  const auto start = Steady::now();
  const auto deadline = start + std::chrono::milliseconds(options_.drain_timeout_ms);
  // Conductors may have placed on this node just before they saw the drain; a node
  // that never registered got nothing.
  const bool placed = agent != nullptr && agent->registered();
  const auto settle = start + (placed ? kDrainSettle : std::chrono::milliseconds(0));
  uint32_t busy = 0;
  while (true) {
    const v1::NodeLoad l = load ? load() : v1::NodeLoad();
    busy = l.queued_requests() + l.running_requests() + l.reserved_requests();
    const auto now = Steady::now();
    if (busy == 0 && now >= settle) break;
    if (now >= deadline) {
      Logger(role_name_)
          ->warn("drain deadline ({} ms) passed with {} requests in flight: ending them",
                 options_.drain_timeout_ms, busy);
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling a local counter
  }
  Logger(role_name_)
      ->info("drained in {} ms",
             std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - start).count());
}

void WorkerNodeImpl::Stop(RunningServer& server, NodeAgent* agent,
                          const std::function<void()>& shutdown) {
  server.health().Shutdown();
  if (agent) agent->Stop();  // deregister first: the conductor sends nothing new
  if (shutdown) shutdown();  // ends streams, fails queued work
  if (segment_) segment_->Stop(/*unmount=*/segment_->registered());
  server.Shutdown(options_.server.shutdown_grace_ms);
}

WorkerNodeImpl::~WorkerNodeImpl() {
  store_client_.reset();
  if (segment_) segment_->Stop(false);
  segment_.reset();
  if (transfer_ && arena_registered_)
    (void)transfer_->UnregisterMemory(engine_->cache().Arena().data());
  engine_.reset();  // frees the arena through the transfer engine
  transfer_.reset();
  directory_.reset();
}

}  // namespace

StatusOr<std::unique_ptr<WorkerNode>> WorkerNode::Create(const WorkerNodeOptions& options,
                                                         v1::NodeRole role) {
  ForwardStraySignals();
  auto node = std::make_unique<WorkerNodeImpl>(options, role);
  KVC_RETURN_IF_ERROR(node->Init());
  return std::unique_ptr<WorkerNode>(std::move(node));
}

v1::NodeLoad EngineLoad(engine::Engine& engine) {
  v1::NodeLoad load;
  load.set_free_kv_blocks(static_cast<uint64_t>(engine.cache().free_blocks()));
  load.set_total_kv_blocks(static_cast<uint64_t>(engine.cache().num_blocks()));
  return load;
}

}  // namespace kvc::worker

// kvc-conductor: front door and global scheduler.
#include <signal.h>

#include <cstdio>
#include <thread>

#include "kvc/common/logging.h"
#include "kvc/conductor/admin_service.h"
#include "kvc/conductor/generate_service.h"
#include "kvc/conductor/http_frontend.h"
#include "kvc/conductor/master_membership.h"
#include "kvc/conductor/options.h"
#include "kvc/conductor/pipeline.h"
#include "kvc/conductor/placer.h"
#include "kvc/conductor/served_model.h"
#include "kvc/membership/node_registry.h"
#include "kvc/membership/registry_service.h"
#include "kvc/rpc/process_main.h"
#include "kvc/rpc/server.h"
#include "kvc/store/master_resolver.h"
#include "kvc/store/prefix_matcher.h"

namespace {

constexpr const char* kDescription =
    "kvc-conductor: front door and global scheduler of a kvc cluster.\n"
    "Serves the OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions, "
    "/v1/models, /health, /metrics), gRPC Conductor.Generate, the Admin API and the node "
    "registry. Each request is tokenized here, matched against the KV pool (kvc-master), "
    "placed on a prefill and a decode node (KVCache-centric policy, early rejection) and "
    "streamed back. The cluster membership is read from kvc-master (shared by every "
    "conductor); without a master, nodes register here. SIGTERM drains: new requests get "
    "503, running ones finish (drain_timeout_ms), then it exits 0.";

bool HasMaster(const kvc::ConductorOptions& o) {
  return !o.master_address.empty() || !o.etcd_endpoints.empty();
}

// The KV pool's metadata client for MatchPrefix (null without a master).
kvc::StatusOr<std::unique_ptr<kvc::store::PrefixMatcher>> ConnectPool(
    const kvc::ConductorOptions& o) {
  if (!HasMaster(o)) return std::unique_ptr<kvc::store::PrefixMatcher>();
  kvc::store::MasterClientOptions so;
  so.master_address = o.master_address;
  so.etcd_endpoints = o.etcd_endpoints;
  so.etcd_prefix = o.etcd_prefix;
  so.node_id = o.server.node_id.empty() ? "conductor" : o.server.node_id;
  so.rpc_timeout_ms = o.master_timeout_ms;
  so.cluster_token = o.cluster_token;
  return kvc::store::CreatePrefixMatcher(so);
}

kvc::conductor::PlacerOptions PlacerOptionsOf(const kvc::ConductorOptions& o,
                                              const kvc::engine::ModelConfig& config) {
  kvc::conductor::PlacerOptions p;
  p.prefill = *kvc::conductor::ParsePrefillPolicy(o.policy);
  p.rejection = *kvc::conductor::ParseRejectionPolicy(o.rejection_policy);
  p.kvcache_balancing_threshold = o.kvcache_balancing_threshold;
  p.block_tokens = o.block_tokens;
  p.prefill_tokens_per_s = o.prefill_tokens_per_s;
  p.transfer_bytes_per_s = o.transfer_bytes_per_s;
  p.kv_bytes_per_token =
      static_cast<double>(config.KvElementsPerTokenPerLayer() * config.num_layers) * 4.0;
  p.decode_step_base_s = o.decode_step_base_s;
  p.decode_step_per_token_s = o.decode_step_per_token_s;
  return p;
}

kvc::conductor::PipelineOptions PipelineOptionsOf(const kvc::ConductorOptions& o) {
  kvc::conductor::PipelineOptions p;
  p.cluster_token = o.cluster_token;
  p.block_tokens = o.block_tokens;
  p.default_max_tokens = o.default_max_tokens;
  p.rpc_timeout_ms = o.rpc_timeout_ms;
  p.prefill_timeout_ms = o.prefill_timeout_ms;
  p.request_timeout_ms = o.request_timeout_ms;
  p.stream_idle_timeout_ms = o.stream_idle_timeout_ms;
  p.threads = static_cast<int>(o.rpc_threads);
  p.kv_wait_ms = o.kv_wait_ms;
  p.max_waiting_requests = o.max_waiting_requests;
  return p;
}

// The membership this conductor places on: the master's (shared by every
// conductor), or, without a master, its own in-memory registry.
struct Members {
  std::unique_ptr<kvc::membership::NodeRegistry> local;
  std::unique_ptr<kvc::conductor::MasterMembership> shared;
  kvc::membership::MembershipView& view() {
    return shared ? static_cast<kvc::membership::MembershipView&>(*shared) : *local;
  }
  kvc::membership::RegistryBackend& backend() {
    return shared ? static_cast<kvc::membership::RegistryBackend&>(*shared) : *local;
  }
};

kvc::StatusOr<Members> StartMembers(const kvc::ConductorOptions& o, const std::string& model_id,
                                    const kvc::Clock& clock) {
  Members m;
  if (!HasMaster(o)) {
    m.local = std::make_unique<kvc::membership::NodeRegistry>(
        kvc::membership::NodeRegistryOptions{std::chrono::milliseconds(o.heartbeat_timeout_ms),
                                             o.heartbeat_interval_ms, model_id, o.block_tokens},
        clock);
    return m;
  }
  kvc::conductor::MasterMembershipOptions mo;
  KVC_ASSIGN_OR_RETURN(mo.resolve, kvc::store::MakeMasterResolver(o.master_address,
                                                                  o.etcd_endpoints, o.etcd_prefix));
  mo.cluster_token = o.cluster_token;
  mo.poll = std::chrono::milliseconds(o.membership_poll_ms);
  mo.rpc_timeout = std::chrono::milliseconds(o.master_timeout_ms);
  mo.model_id = model_id;
  mo.block_tokens = o.block_tokens;
  mo.reporter = o.server.node_id.empty() ? "conductor" : o.server.node_id;
  m.shared = std::make_unique<kvc::conductor::MasterMembership>(std::move(mo), clock);
  m.shared->Start();
  return m;
}

// Serves until SIGTERM/SIGINT, then drains: health NOT_SERVING, new requests 503,
// running ones get drain_timeout_ms. Returns the exit code.
int ServeAndDrain(const kvc::ConductorOptions& options, const std::vector<grpc::Service*>& services,
                  kvc::http::HttpServer& http, kvc::conductor::Pipeline& pipeline) {
  auto log = kvc::Logger("conductor");
  auto server = kvc::RunningServer::Start("conductor", options.server, services);
  if (!server.ok()) {
    log->error("{}", server.status().message());
    return 1;
  }
  if (!options.server.port_file.empty()) {
    if (kvc::Status s = kvc::WritePortFile(options.server.port_file, (*server)->port()); !s.ok()) {
      log->error("{}", s.message());
      return 1;
    }
  }
  log->info("conductor serving gRPC on {}", (*server)->address());
  std::printf("kvc-conductor listening on %s\n", (*server)->address().c_str());
  std::fflush(stdout);
  const int sig = kvc::WaitForTerminationSignal();
  log->info("received {}: draining, {} requests in flight (up to {} ms)",
            sig == SIGTERM ? "SIGTERM" : "SIGINT", pipeline.in_flight(), options.drain_timeout_ms);
  (*server)->health().SetStatus("", grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  pipeline.BeginDrain();
  const auto drain_start = std::chrono::steady_clock::now();
  if (pipeline.WaitIdle(std::chrono::milliseconds(options.drain_timeout_ms))) {
    // The last events of finished streams may still be queued on their connections
    // (SSE streams close once written): give them up to kFlush to go out.
    constexpr auto kFlush = std::chrono::milliseconds(1000);
    const auto flush_end = std::chrono::steady_clock::now() + kFlush;
    while (http.OpenConnections() > 0 && std::chrono::steady_clock::now() < flush_end) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling a local count
    }
    log->info("drained in {} ms: no request in flight",
              std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - drain_start)
                  .count());
  } else {
    log->warn("drain_timeout_ms ({}) passed: cancelling {} requests still in flight",
              options.drain_timeout_ms, pipeline.in_flight());
  }
  http.Shutdown();      // disconnects streams: their requests are cancelled on the workers
  pipeline.Shutdown();  // waits (bounded) for the cancels
  (*server)->Shutdown(options.server.shutdown_grace_ms);
  log->info("stopped");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  kvc::ConductorOptions options;
  int exit_code = 0;
  if (!kvc::StartRole(
          argc, argv,
          {"kvc-conductor", kDescription,
           [&](kvc::OptionSet& set) { kvc::BindConductorOptions(set, &options); },
           [&] { return kvc::ValidateConductorOptions(options); }, &options.server.log_level,
           [&] { return kvc::ConductorExposure(options); }, &options.server.tls},
          &exit_code)) {
    return exit_code;
  }
  auto log = kvc::Logger("conductor");
  auto model = kvc::conductor::ServedModel::Load(options.model_dir, options.served_model,
                                                 options.chat_template);
  if (!model.ok()) {
    log->error("model: {}", model.status().ToString());
    return 2;
  }
  auto pool = ConnectPool(options);
  if (!pool.ok()) {
    log->error("KV pool client: {}", pool.status().ToString());
    return 1;
  }

  kvc::Clock& clock = kvc::Clock::Real();
  kvc::MetricsRegistry& metrics = kvc::MetricsRegistry::Default();
  auto members = StartMembers(options, (*model)->id(), clock);
  if (!members.ok()) {
    log->error("membership: {}", members.status().ToString());
    return 2;
  }
  kvc::conductor::SloStore slo(options.ttft_slo_s, options.tbt_slo_s);
  kvc::conductor::ConductorCounters counters(metrics);
  kvc::conductor::Placer placer(PlacerOptionsOf(options, (*model)->config()), members->view(), slo,
                                clock);
  kvc::conductor::Pipeline pipeline(PipelineOptionsOf(options), **model, placer, counters,
                                    pool->get(), clock);
  kvc::conductor::AdminServiceImpl admin(members->view(), slo, counters, metrics,
                                         options.admin_token, &pipeline);
  kvc::membership::RegistryService registry_service(members->backend(), options.cluster_token);
  kvc::conductor::GenerateServiceImpl generate(pipeline, **model, counters, options.api_keys);

  kvc::http::ServerOptions http_options;
  http_options.address = options.http_address;
  http_options.port = static_cast<uint16_t>(options.http_port);
  http_options.io_threads = static_cast<int>(options.http_io_threads);
  http_options.max_connections = options.http_max_connections;
  http_options.read_timeout_ms = options.http_read_timeout_ms;
  http_options.retry_after_s = options.retry_after_s;
  http_options.tls_cert_file = options.http_tls_cert_file;
  http_options.tls_key_file = options.http_tls_key_file;
  kvc::http::HttpServer http(http_options);
  kvc::conductor::RegisterHttpRoutes(
      http, {&options, &members->view(), &counters, &metrics, &clock, model->get(), &pipeline});
  if (kvc::Status s = http.Start(); !s.ok()) {
    log->error("{}", s.message());
    return 1;
  }
  if (!options.http_port_file.empty()) {
    if (kvc::Status s = kvc::WritePortFile(options.http_port_file, http.port()); !s.ok()) {
      log->error("http_port_file: {}", s.message());
      return 1;
    }
  }
  log->info(
      "serving model '{}' (block {} tokens, policy {}, rejection {}, master '{}'{}; membership "
      "{})",
      (*model)->id(), options.block_tokens, options.policy, options.rejection_policy,
      options.master_address,
      options.etcd_endpoints.empty() ? "" : ", etcd " + options.etcd_endpoints,
      members->shared
          ? "read from the master every " + std::to_string(options.membership_poll_ms) + " ms"
          : "in this conductor (no master)");
  log->info("OpenAI-compatible HTTP API on http://{}:{}", options.http_address, http.port());
  std::printf("kvc-conductor http on http://%s:%d\n", options.http_address.c_str(), http.port());
  std::fflush(stdout);
  const int code = ServeAndDrain(options, {&admin, &registry_service, &generate}, http, pipeline);
  if (members->shared) members->shared->Stop();
  return code;
}

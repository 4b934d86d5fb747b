// kvc-conductor: front door and global scheduler.
#include <cstdio>

#include "kvc/common/logging.h"
#include "kvc/conductor/admin_service.h"
#include "kvc/conductor/generate_service.h"
#include "kvc/conductor/http_frontend.h"
#include "kvc/conductor/node_registry.h"
#include "kvc/conductor/options.h"
#include "kvc/conductor/pipeline.h"
#include "kvc/conductor/placer.h"
#include "kvc/conductor/served_model.h"
#include "kvc/rpc/process_main.h"
#include "kvc/rpc/server.h"
#include "kvc/store/prefix_matcher.h"

namespace {

constexpr const char* kDescription =
    "kvc-conductor: front door and global scheduler of a kvc cluster.\n"
    "Serves the OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions, "
    "/v1/models, /health, /metrics), gRPC Conductor.Generate, the Admin API and the node "
    "registry. Each request is tokenized here, matched against the KV pool (kvc-master), "
    "placed on a prefill and a decode node (KVCache-centric policy, early rejection) and "
    "streamed back.";

// The KV pool's metadata client for MatchPrefix (null without a master).
kvc::StatusOr<std::unique_ptr<kvc::store::PrefixMatcher>> ConnectPool(
    const kvc::ConductorOptions& o) {
  if (o.master_address.empty()) return std::unique_ptr<kvc::store::PrefixMatcher>();
  kvc::store::MasterClientOptions so;
  so.master_address = o.master_address;
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
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  kvc::ConductorOptions options;
  int exit_code = 0;
  if (!kvc::StartRole(
          argc, argv,
          {"kvc-conductor", kDescription,
           [&](kvc::OptionSet& set) { kvc::BindConductorOptions(set, &options); },
           [&] { return kvc::ValidateConductorOptions(options); }, &options.server.log_level},
          &exit_code)) {
    return exit_code;
  }
  auto log = kvc::Logger("conductor");
  auto model = kvc::conductor::ServedModel::Load(options.model_dir, options.served_model);
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
  kvc::conductor::NodeRegistry registry(
      {std::chrono::milliseconds(options.heartbeat_timeout_ms), options.heartbeat_interval_ms,
       (*model)->id(), options.block_tokens},
      clock);
  kvc::conductor::SloStore slo(options.ttft_slo_s, options.tbt_slo_s);
  kvc::conductor::ConductorCounters counters(metrics);
  kvc::conductor::Placer placer(PlacerOptionsOf(options, (*model)->config()), registry, slo, clock);
  kvc::conductor::Pipeline pipeline(PipelineOptionsOf(options), **model, placer, counters,
                                    pool->get(), clock);
  kvc::conductor::AdminServiceImpl admin(registry, slo, counters, metrics, options.admin_token,
                                         &pipeline);
  kvc::conductor::NodeRegistryServiceImpl registry_service(registry, options.cluster_token);
  kvc::conductor::GenerateServiceImpl generate(pipeline, **model, counters, options.api_keys);

  kvc::http::ServerOptions http_options;
  http_options.address = options.http_address;
  http_options.port = static_cast<uint16_t>(options.http_port);
  http_options.io_threads = static_cast<int>(options.http_io_threads);
  kvc::http::HttpServer http(http_options);
  kvc::conductor::RegisterHttpRoutes(
      http, {&options, &registry, &counters, &metrics, &clock, model->get(), &pipeline});
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
  log->info("serving model '{}' (block {} tokens, policy {}, rejection {}, master '{}')",
            (*model)->id(), options.block_tokens, options.policy, options.rejection_policy,
            options.master_address);
  log->info("OpenAI-compatible HTTP API on http://{}:{}", options.http_address, http.port());
  std::printf("kvc-conductor http on http://%s:%d\n", options.http_address.c_str(), http.port());
  std::fflush(stdout);
  const int code =
      kvc::ServeUntilSignalled("conductor", options.server, {&admin, &registry_service, &generate});
  http.Shutdown();      // disconnects streams: their requests are cancelled on the workers
  pipeline.Shutdown();  // waits (bounded) for the cancels
  return code;
}

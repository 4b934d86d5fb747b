// kvc-conductor: front door and global scheduler.
#include <cstdio>

#include "kvc/common/logging.h"
#include "kvc/conductor/admin_service.h"
#include "kvc/conductor/http_frontend.h"
#include "kvc/conductor/node_registry.h"
#include "kvc/conductor/options.h"
#include "kvc/rpc/server.h"

namespace {

constexpr const char* kDescription =
    "kvc-conductor: front door and global scheduler of a kvc cluster.\n"
    "Built: gRPC health, Admin API (nodes, drain, stats, SLO, metrics), node registry with "
    "heartbeats, and the OpenAI-compatible HTTP API's validation, /health, /metrics and "
    "/v1/models.\n"
    "Not built yet: generation (placement, prefill/decode streaming) — valid generation "
    "requests answer 503 (no nodes) or 501.";

}  // namespace

int main(int argc, char** argv) {
  kvc::BlockTerminationSignals();
  kvc::ConductorOptions options;
  kvc::OptionSet set;
  kvc::BindConductorOptions(set, &options);
  int exit_code = 0;
  if (!kvc::ParseCommandLine(argc, argv, "kvc-conductor", kDescription, set, &exit_code)) {
    return exit_code;
  }
  if (kvc::Status s = kvc::ValidateConductorOptions(options); !s.ok()) {
    std::fprintf(stderr, "kvc-conductor: configuration error: %s\n",
                 std::string(s.message()).c_str());
    return 2;
  }
  auto log = kvc::Logger("conductor");
  if (kvc::Status s = kvc::SetLogLevel(options.server.log_level); !s.ok()) {
    log->error("{}", s.message());
    return 2;
  }

  kvc::Clock& clock = kvc::Clock::Real();
  kvc::MetricsRegistry& metrics = kvc::MetricsRegistry::Default();
  kvc::conductor::NodeRegistry registry(
      {std::chrono::milliseconds(options.heartbeat_timeout_ms), options.heartbeat_interval_ms},
      clock);
  kvc::conductor::SloStore slo(options.ttft_slo_s, options.tbt_slo_s);
  kvc::conductor::ConductorCounters counters(metrics);
  kvc::conductor::AdminServiceImpl admin(registry, slo, counters, metrics, options.admin_token);
  kvc::conductor::NodeRegistryServiceImpl registry_service(registry, options.cluster_token);

  kvc::http::ServerOptions http_options;
  http_options.address = options.http_address;
  http_options.port = static_cast<uint16_t>(options.http_port);
  http_options.io_threads = static_cast<int>(options.http_io_threads);
  kvc::http::HttpServer http(http_options);
  kvc::conductor::RegisterHttpRoutes(http, {&options, &registry, &counters, &metrics, &clock});
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
  log->info("OpenAI-compatible HTTP API on http://{}:{}", options.http_address, http.port());
  std::printf("kvc-conductor http on http://%s:%d\n", options.http_address.c_str(), http.port());
  const int code =
      kvc::ServeUntilSignalled("conductor", options.server, {&admin, &registry_service});
  http.Shutdown();
  return code;
}

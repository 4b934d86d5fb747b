#include "kvc/http/metrics_endpoint.h"

#include "absl/strings/str_cat.h"
#include "kvc/common/port_file.h"

namespace kvc::http {

void BindMetricsEndpointOptions(OptionSet& set, MetricsEndpointOptions* o) {
  set.Add("metrics_port", &o->port,
          "serve Prometheus text at http://metrics_address:PORT/metrics (-1 = off, 0 = ephemeral)");
  set.Add("metrics_address", &o->address, "interface of the /metrics HTTP endpoint");
  set.Add("metrics_port_file", &o->port_file, "write the bound /metrics port here once serving");
}

Status ValidateMetricsEndpointOptions(const MetricsEndpointOptions& o) {
  if (o.port < -1 || o.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics_port: ", o.port, " is not in -1..65535 (-1 = off)"));
  }
  if (o.port >= 0 && o.address.empty()) {
    return absl::InvalidArgumentError("metrics_address: must not be empty with metrics_port set");
  }
  return Status();
}

StatusOr<std::unique_ptr<HttpServer>> StartMetricsEndpoint(const MetricsEndpointOptions& o,
                                                           const MetricsRegistry& metrics,
                                                           const Labels& constant_labels) {
  if (o.port < 0) return std::unique_ptr<HttpServer>();
  ServerOptions options;
  options.address = o.address;
  options.port = static_cast<uint16_t>(o.port);
  options.io_threads = 1;
  options.max_body_bytes = 4096;
  options.read_timeout_ms = 10'000;
  options.write_timeout_ms = 10'000;
  auto server = std::make_unique<HttpServer>(options);
  server->Route("GET", "/metrics",
                [&metrics, constant_labels](const Request&, std::shared_ptr<ResponseWriter> w) {
                  w->Respond(200, "text/plain; version=0.0.4; charset=utf-8",
                             metrics.RenderPrometheus(constant_labels));
                });
  for (const char* path : {"/health", "/livez"}) {
    server->Route("GET", path, [](const Request&, std::shared_ptr<ResponseWriter> w) {
      w->Respond(200, "text/plain; charset=utf-8", "ok\n");
    });
  }
  if (Status s = server->Start(); !s.ok()) {
    return Status(s.code(), absl::StrCat("metrics_port: ", s.message()));
  }
  if (!o.port_file.empty()) {
    if (Status s = WritePortFile(o.port_file, server->port()); !s.ok()) {
      return Status(s.code(), absl::StrCat("metrics_port_file: ", s.message()));
    }
  }
  return server;
}

}  // namespace kvc::http

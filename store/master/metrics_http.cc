#include "store/master/metrics_http.h"

#include "absl/strings/str_cat.h"
#include "kvc/rpc/server.h"

namespace kvc::store {

StatusOr<std::unique_ptr<http::HttpServer>> StartMetricsHttp(const std::string& address, int port,
                                                             const std::string& port_file,
                                                             const MetricsRegistry& metrics) {
  http::ServerOptions options;
  options.address = address;
  options.port = static_cast<uint16_t>(port);
  options.io_threads = 1;
  options.max_body_bytes = 4096;
  options.read_timeout_ms = 10'000;
  options.write_timeout_ms = 10'000;
  auto server = std::make_unique<http::HttpServer>(options);
  server->Route(
      "GET", "/metrics", [&metrics](const http::Request&, std::shared_ptr<http::ResponseWriter> w) {
        w->Respond(200, "text/plain; version=0.0.4; charset=utf-8", metrics.RenderPrometheus());
      });
  server->Route("GET", "/health",
                [](const http::Request&, std::shared_ptr<http::ResponseWriter> w) {
                  w->Respond(200, "text/plain; charset=utf-8", "ok\n");
                });
  if (Status s = server->Start(); !s.ok()) {
    return Status(s.code(), absl::StrCat("metrics_port: ", s.message()));
  }
  if (!port_file.empty()) {
    if (Status s = WritePortFile(port_file, server->port()); !s.ok()) {
      return Status(s.code(), absl::StrCat("metrics_port_file: ", s.message()));
    }
  }
  return server;
}

}  // namespace kvc::store

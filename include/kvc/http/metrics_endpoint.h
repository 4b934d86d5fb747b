// The Prometheus endpoint every server role can serve: GET /metrics renders a
// MetricsRegistry as Prometheus text (format 0.0.4) with constant labels (role,
// node id) on every series; GET /health and GET /livez answer "ok". Other paths are 404, other
// methods 405. Options are the same on every role: metrics_port,
// metrics_address, metrics_port_file.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "kvc/common/config.h"
#include "kvc/common/metrics.h"
#include "kvc/common/status.h"
#include "kvc/http/server.h"

namespace kvc::http {

struct MetricsEndpointOptions {
  // Port of http://address:port/metrics: -1 = no endpoint, 0 = an ephemeral
  // port (written to port_file).
  int32_t port = -1;
  // Interface to bind: 127.0.0.1 keeps it on this host; 0.0.0.0 (or the node's IP)
  // for a Prometheus server on another host.
  std::string address = "127.0.0.1";
  std::string port_file;  // when set, the bound port is written here once serving
};

// Binds metrics_port, metrics_address and metrics_port_file.
void BindMetricsEndpointOptions(OptionSet& set, MetricsEndpointOptions* options);
// Errors name the field (metrics_port outside -1..65535, empty metrics_address).
[[nodiscard]] Status ValidateMetricsEndpointOptions(const MetricsEndpointOptions& options);

// Starts serving `metrics` (borrowed, must outlive the server) with
// `constant_labels` when options.port >= 0; nullptr when the endpoint is off.
// Errors name metrics_port (cannot bind) or metrics_port_file (cannot write).
StatusOr<std::unique_ptr<HttpServer>> StartMetricsEndpoint(const MetricsEndpointOptions& options,
                                                           const MetricsRegistry& metrics,
                                                           const Labels& constant_labels = {});

}  // namespace kvc::http

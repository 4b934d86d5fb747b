// The master's Prometheus endpoint: GET /metrics renders a MetricsRegistry as
// Prometheus text (format 0.0.4); GET /health answers "ok". Other paths are 404,
// other methods 405.
#pragma once

#include <memory>
#include <string>

#include "kvc/common/metrics.h"
#include "kvc/common/status.h"
#include "kvc/http/server.h"

namespace kvc::store {

// Binds address:port (0 = ephemeral), starts serving `metrics` (borrowed, must
// outlive the server) and, when `port_file` is not empty, writes the bound port
// there. Errors name the address or the port file.
StatusOr<std::unique_ptr<http::HttpServer>> StartMetricsHttp(const std::string& address, int port,
                                                             const std::string& port_file,
                                                             const MetricsRegistry& metrics);

}  // namespace kvc::store

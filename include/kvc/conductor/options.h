// Options of kvc-conductor, filled from YAML, KVC_* env vars and flags (see
// kvc/common/config.h and docs/configuration.md).
#pragma once

#include <string>
#include <vector>

#include "kvc/common/config.h"
#include "kvc/common/status.h"
#include "kvc/rpc/server.h"

namespace kvc {

struct ConductorOptions {
  ServerOptions server;                    // gRPC; listen_address defaults to 127.0.0.1:50051
  std::string http_address = "127.0.0.1";  // interface of the OpenAI-compatible HTTP API
  uint32_t http_port = 8000;               // 0 = ephemeral (written to http_port_file)
  std::string http_port_file;              // when set, the bound HTTP port is written here
  uint32_t http_io_threads = 2;            // event-loop threads of the HTTP server
  std::string served_model = "kvc-tiny";   // model id clients must name
  std::vector<std::string> api_keys;       // accepted HTTP bearer keys; empty = open
  std::string admin_token;                 // required on Admin RPCs when set
  std::string cluster_token;               // required on node registration/heartbeats when set
  uint32_t heartbeat_timeout_ms = 3000;    // a node silent this long is down
  uint32_t heartbeat_interval_ms = 500;    // what nodes are told to use
  double ttft_slo_s = 30.0;                // TTFT objective (paper: 30 s)
  double tbt_slo_s = 0.1;                  // TBT objective (paper: 100-300 ms)
};

void BindConductorOptions(OptionSet& set, ConductorOptions* options);
[[nodiscard]] Status ValidateConductorOptions(const ConductorOptions& options);

}  // namespace kvc

// Health of a kvc-local cluster as seen from outside: every process's gRPC health,
// the workers the conductor lists as up, the conductor's HTTP /health.
#pragma once

#include <chrono>
#include <string>

#include "local/run_dir.h"

namespace kvc::local {

struct ClusterHealth {
  int processes_alive = 0;
  int processes_serving = 0;  // gRPC health SERVING
  int prefill_up = 0;         // workers the conductor lists in state "up"
  int decode_up = 0;
  int http_status = 0;        // GET /health (0 = no answer)
  std::string first_problem;  // name of the first process not alive / not serving
};

// "127.0.0.1:<port>" from a port file, "" when it is missing or empty.
std::string AddressFromPortFile(const std::string& port_file);

ClusterHealth ProbeCluster(const ClusterState& state, const std::string& admin_token,
                           std::chrono::milliseconds timeout);

}  // namespace kvc::local

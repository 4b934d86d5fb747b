// The run dir of a kvc-local cluster: what `up` started (cluster.json), the
// cluster and admin tokens (mode 0600), port files, logs and the model.
//
//   <run dir>/cluster.json     processes (pid, start time, binary, log), addresses
//   <run dir>/cluster.token    shared secret of the nodes (0600)
//   <run dir>/admin.token      token of the conductor's Admin API (0600)
//   <run dir>/model/           the built-in kvc-tiny model, written once
//   <run dir>/<name>.log       output of each process
//   <run dir>/<name>.port      gRPC port of each process
#pragma once

#include <string>
#include <vector>

#include "kvc/common/status.h"
#include "local/process.h"

namespace kvc::local {

// The default run dir: $KVC_LOCAL_RUN_DIR, else /tmp/kvc-local-<uid>.
std::string DefaultRunDir();

struct ClusterState {
  std::string base_url;  // "http://127.0.0.1:8000"
  int http_port = 0;
  std::string conductor_address;  // gRPC host:port
  std::string master_address;
  std::string model_dir;
  std::string model_id;
  std::string engine;                    // cpu | sim
  std::vector<ProcessRecord> processes;  // in start order
};

// Writes <dir>/cluster.json atomically (mode 0600).
[[nodiscard]] Status SaveState(const std::string& dir, const ClusterState& state);
// NOT_FOUND when the run dir holds no cluster.json.
StatusOr<ClusterState> LoadState(const std::string& dir);

// Reads <dir>/<name> ("cluster.token"); creates it with a fresh random 32-hex-digit
// token, mode 0600, when absent.
StatusOr<std::string> LoadOrCreateToken(const std::string& dir, const std::string& name);

// Creates the directory (mode 0700) when missing.
[[nodiscard]] Status EnsureRunDir(const std::string& dir);

}  // namespace kvc::local

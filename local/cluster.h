// kvc-local's three commands. Each returns the process exit code (0 ok, 1 failure,
// 2 bad arguments) and prints what happened to stdout / errors to stderr.
#pragma once

#include <string>

namespace kvc::local {

struct UpOptions {
  int prefill = 1;              // kvc-prefill processes
  int decode = 1;               // kvc-decode processes
  std::string engine = "cpu";   // engine backend of the workers: cpu | sim
  std::string model_dir;        // "" = built-in kvc-tiny, written once into <run dir>/model
  int http_port = 8000;         // conductor HTTP port (0 = ephemeral, see the printed URL)
  std::string run_dir;          // "" = DefaultRunDir()
  int timeout_s = 60;           // deadline for the whole cluster to become healthy
  int kv_blocks = 0;            // KV blocks per worker engine (0 = the engine default)
  double sim_time_scale = 1.0;  // sim engine: wall seconds per modelled second
  std::string bin_dir;          // "" = the directory holding kvc-local
};

int Up(const UpOptions& options);
int PrintStatus(const std::string& run_dir, bool json);
int Down(const std::string& run_dir, int grace_s);

}  // namespace kvc::local

// Test support: a whole cluster started with `kvc-local up` in a temp run dir on
// an ephemeral HTTP port, stopped with `kvc-local down` by the destructor. Gives
// the tests the HTTP port, the processes' pids and the conductor's Admin API.
#pragma once

#include <sys/types.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kvc/v1/admin.grpc.pb.h"
#include "tests/support/subprocess.h"

namespace kvc::testing {

class LocalCluster {
 public:
  // Runs `kvc-local up --run-dir <tmp> --http-port 0 <args...>`; check ok().
  explicit LocalCluster(const std::vector<std::string>& args);
  ~LocalCluster();  // kvc-local down

  bool ok() const { return ok_; }
  const std::string& up_output() const { return up_output_; }
  int http_port() const { return http_port_; }
  const std::string& run_dir() const { return dir_.path(); }
  std::string model_dir() const { return dir_.path() + "/model"; }
  // Pid of a started process by name ("prefill-0", "decode-1", ...); 0 if unknown.
  pid_t Pid(const std::string& name) const;
  // The conductor's node list (admin token attached); empty on error.
  std::vector<kvc::v1::NodeInfo> Nodes() const;
  // Node id → state, for polling.
  std::map<std::string, std::string> NodeStates() const;
  // Runs kvc-local with `args` (run dir appended); returns the exit code and output.
  int RunLocal(std::vector<std::string> args, std::string* output) const;
  std::string admin_token() const;
  std::string conductor_address() const { return conductor_address_; }

 private:
  TempDir dir_;
  bool ok_ = false;
  std::string up_output_;
  int http_port_ = 0;
  std::string conductor_address_;
  std::map<std::string, pid_t> pids_;
};

// A chat completion body: one user message, greedy unless `extra` says otherwise.
std::string ChatBody(const std::string& content, int max_tokens, bool stream,
                     const std::string& extra = "");

}  // namespace kvc::testing

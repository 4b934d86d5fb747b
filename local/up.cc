// kvc-local up: master, conductor, N prefill + M decode workers on 127.0.0.1.
#include <unistd.h>

#include <filesystem>
#include <iostream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "kvc/engine/model_config.h"
#include "kvc/engine/tiny_model.h"
#include "local/cluster.h"
#include "local/cluster_probe.h"

namespace kvc::local {
namespace {

// SIGTERM drain deadline of every process: `down` sends SIGKILL after --grace-s (5 s),
// so running streams get 3 s to finish (workers and the conductor drain at once).
constexpr const char* kDrainMs = "3000";

using Clock = std::chrono::steady_clock;

std::string SelfDir() {
  std::error_code ec;
  return std::filesystem::read_symlink("/proc/self/exe", ec).parent_path().string();
}

// Starts the cluster step by step, recording every process in the run dir at
// once, so a failure (or a crash of kvc-local itself) never loses track of one.
class Launcher {
 public:
  Launcher(UpOptions o) : o_(std::move(o)) {}
  int Run();

 private:
  Status Prepare();
  Status PrepareModel();
  Status Start(const std::string& name, std::vector<std::string> argv,
               std::vector<std::string> env);
  StatusOr<std::string> WaitForPort(const std::string& name, const std::string& port_file);
  Status StartCore();
  Status StartWorkers();
  Status WaitHealthy();
  int Fail(const Status& s, const std::string& culprit);
  std::string RunPath(const std::string& file) const { return o_.run_dir + "/" + file; }
  std::string Bin(const std::string& name) const { return o_.bin_dir + "/" + name; }

  UpOptions o_;
  Clock::time_point deadline_;
  std::string cluster_token_, admin_token_;
  ClusterState state_;
};

Status Launcher::Prepare() {
  if (o_.run_dir.empty()) o_.run_dir = DefaultRunDir();
  if (o_.bin_dir.empty()) o_.bin_dir = SelfDir();
  o_.run_dir = std::filesystem::absolute(o_.run_dir).lexically_normal().string();
  KVC_RETURN_IF_ERROR(EnsureRunDir(o_.run_dir));
  if (auto old = LoadState(o_.run_dir); old.ok()) {
    for (const auto& p : old->processes) {
      if (IsAlive(p)) {
        return absl::AlreadyExistsError(
            absl::StrCat("a cluster is already running in ", o_.run_dir, " (", p.name, " pid ",
                         p.pid, "); stop it with: kvc-local down --run-dir ", o_.run_dir));
      }
    }
  }
  KVC_ASSIGN_OR_RETURN(cluster_token_, LoadOrCreateToken(o_.run_dir, "cluster.token"));
  KVC_ASSIGN_OR_RETURN(admin_token_, LoadOrCreateToken(o_.run_dir, "admin.token"));
  for (const auto& e : std::filesystem::directory_iterator(o_.run_dir)) {
    if (e.path().extension() == ".port") std::filesystem::remove(e.path());
  }
  state_.engine = o_.engine;
  return PrepareModel();
}

Status Launcher::PrepareModel() {
  if (o_.model_dir.empty()) {
    o_.model_dir = RunPath("model");
    if (!std::filesystem::exists(o_.model_dir + "/config.json")) {
      std::cout << "writing the built-in kvc-tiny model to " << o_.model_dir << "\n";
      KVC_RETURN_IF_ERROR(engine::WriteTinyModel(o_.model_dir, /*seed=*/0));
    }
  }
  o_.model_dir = std::filesystem::absolute(o_.model_dir).lexically_normal().string();
  KVC_ASSIGN_OR_RETURN(engine::ModelConfig config, engine::LoadModelConfig(o_.model_dir));
  state_.model_dir = o_.model_dir;
  state_.model_id = engine::ServedModelId(o_.model_dir, config);
  return Status();
}

Status Launcher::Start(const std::string& name, std::vector<std::string> argv,
                       std::vector<std::string> env) {
  const std::string port_file = RunPath(name + ".port");
  argv.insert(argv.begin() + 1, {"--listen-address", "127.0.0.1:0", "--port-file", port_file});
  KVC_ASSIGN_OR_RETURN(ProcessRecord r, Spawn(name, argv, env, RunPath(name + ".log")));
  r.port_file = port_file;
  state_.processes.push_back(r);
  return SaveState(o_.run_dir, state_);
}

StatusOr<std::string> Launcher::WaitForPort(const std::string& name, const std::string& port_file) {
  while (Clock::now() < deadline_) {
    if (std::string a = AddressFromPortFile(port_file); !a.empty()) return a;
    for (const auto& p : state_.processes) {
      if (!IsAlive(p)) return absl::UnavailableError(p.name + " exited during start-up");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::DeadlineExceededError(name + " wrote no port before the deadline");
}

Status Launcher::StartCore() {
  KVC_RETURN_IF_ERROR(
      Start("master", {Bin("kvc-master")}, {"KVC_CLUSTER_TOKEN=" + cluster_token_}));
  KVC_ASSIGN_OR_RETURN(state_.master_address, WaitForPort("master", RunPath("master.port")));
  // Tokens travel in the environment, not argv: /proc/<pid>/environ is private.
  KVC_RETURN_IF_ERROR(
      Start("conductor",
            {Bin("kvc-conductor"), "--http-port", std::to_string(o_.http_port), "--http-port-file",
             RunPath("http.port"), "--served-model", state_.model_id, "--model", o_.model_dir,
             "--master-address", state_.master_address, "--drain-timeout-ms", kDrainMs},
            {"KVC_CLUSTER_TOKEN=" + cluster_token_, "KVC_ADMIN_TOKEN=" + admin_token_}));
  KVC_ASSIGN_OR_RETURN(state_.conductor_address,
                       WaitForPort("conductor", RunPath("conductor.port")));
  KVC_ASSIGN_OR_RETURN(std::string http, WaitForPort("conductor", RunPath("http.port")));
  state_.http_port = std::stoi(http.substr(http.rfind(':') + 1));
  state_.base_url = "http://" + http;
  return SaveState(o_.run_dir, state_);
}

Status Launcher::StartWorkers() {
  for (const auto& [role, count] : {std::pair{"prefill", o_.prefill}, {"decode", o_.decode}}) {
    for (int i = 0; i < count; ++i) {
      const std::string name = absl::StrCat(role, "-", i);
      std::vector<std::string> argv = {Bin(absl::StrCat("kvc-", role)),
                                       "--node-id",
                                       name,
                                       "--drain-timeout-ms",
                                       kDrainMs,
                                       "--master-address",
                                       state_.master_address,
                                       "--model",
                                       o_.model_dir,
                                       "--engine-backend",
                                       o_.engine,
                                       "--engine-threads",
                                       "1",
                                       "--engine-sim-time-scale",
                                       absl::StrCat(o_.sim_time_scale),
                                       "--store-dram-bytes",
                                       std::to_string(64ull << 20)};
      if (o_.kv_blocks > 0) {
        argv.insert(argv.end(), {"--engine-num-blocks", std::to_string(o_.kv_blocks)});
      }
      KVC_RETURN_IF_ERROR(Start(name, argv, {"KVC_CLUSTER_TOKEN=" + cluster_token_}));
    }
  }
  return Status();
}

Status Launcher::WaitHealthy() {
  const int total = static_cast<int>(state_.processes.size());
  ClusterHealth h;
  while (Clock::now() < deadline_) {
    h = ProbeCluster(state_, admin_token_, std::chrono::milliseconds(1000));
    if (h.processes_alive < total) {
      return absl::UnavailableError(h.first_problem + " exited during start-up");
    }
    if (h.processes_serving == total && h.prefill_up == o_.prefill && h.decode_up == o_.decode &&
        h.http_status == 200) {
      return Status();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "not healthy after ", o_.timeout_s, " s: ", h.processes_serving, "/", total,
      " processes serving, conductor lists ", h.prefill_up, "/", o_.prefill, " prefill and ",
      h.decode_up, "/", o_.decode, " decode nodes up, HTTP /health ", h.http_status));
}

int Launcher::Fail(const Status& s, const std::string& culprit) {
  std::cerr << "kvc-local up: " << s.message() << "\n";
  for (const auto& p : state_.processes) {
    if (p.name == culprit || (culprit.empty() && !IsAlive(p))) {
      std::cerr << "--- last lines of " << p.log << " ---\n" << Tail(p.log, 30);
    }
  }
  std::cerr << "stopping what was started\n";
  (void)StopAll(state_.processes, std::chrono::seconds(5));
  std::filesystem::remove(RunPath("cluster.json"));
  return 1;
}

int Launcher::Run() {
  deadline_ = Clock::now() + std::chrono::seconds(o_.timeout_s);
  if (Status s = Prepare(); !s.ok()) {
    std::cerr << "kvc-local up: " << s.message() << "\n";
    return 1;
  }
  Status s = StartCore();
  if (s.ok()) s = StartWorkers();
  if (s.ok()) s = WaitHealthy();
  if (!s.ok()) {
    const ClusterHealth h = ProbeCluster(state_, admin_token_, std::chrono::milliseconds(300));
    return Fail(s, h.first_problem.empty() && !state_.processes.empty()
                       ? state_.processes.back().name
                       : h.first_problem);
  }
  std::cout << "kvc-local: cluster up in " << o_.run_dir << " (" << o_.prefill << " prefill, "
            << o_.decode << " decode, " << o_.engine << " engine, model " << state_.model_id
            << ")\n"
            << "  logs:  " << o_.run_dir << "/*.log\n"
            << "  admin: kvcctl --target " << state_.conductor_address << " --admin-token \"$(cat "
            << o_.run_dir << "/admin.token)\" nodes\n"
            << "  stop:  kvc-local down --run-dir " << o_.run_dir << "\n"
            << state_.base_url << "\n";
  return 0;
}

}  // namespace

int Up(const UpOptions& options) {
  if (options.prefill < 1 || options.decode < 1) {
    std::cerr << "kvc-local up: --prefill and --decode must be >= 1\n";
    return 2;
  }
  if (options.engine != "cpu" && options.engine != "sim") {
    std::cerr << "kvc-local up: --engine must be cpu or sim, not '" << options.engine << "'\n";
    return 2;
  }
  if (options.http_port < 0 || options.http_port > 65535) {
    std::cerr << "kvc-local up: --http-port must be in 0..65535\n";
    return 2;
  }
  return Launcher(options).Run();
}

}  // namespace kvc::local

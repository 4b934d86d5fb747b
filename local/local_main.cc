// kvc-local: a whole kvc cluster on this machine, one process per role on 127.0.0.1.
//   kvc-local up [--prefill N] [--decode M] [--engine cpu|sim] [--model DIR]
//                [--http-port P] [--run-dir DIR]
//   kvc-local status [--run-dir DIR] [--json]
//   kvc-local down [--run-dir DIR]
#include <CLI/CLI.hpp>

#include "local/cluster.h"
#include "local/run_dir.h"

int main(int argc, char** argv) {
  CLI::App app{
      "kvc-local: start, inspect and stop a kvc cluster on this machine (kvc-master, "
      "kvc-conductor,\nN kvc-prefill and M kvc-decode as separate processes on 127.0.0.1). "
      "Default run dir: $KVC_LOCAL_RUN_DIR, else /tmp/kvc-local-<uid>.",
      "kvc-local"};
  app.require_subcommand(1);
  kvc::local::UpOptions up;
  auto* up_cmd = app.add_subcommand("up", "start a cluster and wait until it is healthy");
  up_cmd->add_option("--prefill", up.prefill, "prefill workers")->capture_default_str();
  up_cmd->add_option("--decode", up.decode, "decode workers")->capture_default_str();
  up_cmd->add_option("--engine", up.engine, "engine backend of the workers: cpu or sim")
      ->capture_default_str();
  up_cmd->add_option("--model", up.model_dir,
                     "model directory (default: the built-in kvc-tiny, written to the run dir)");
  up_cmd->add_option("--http-port", up.http_port, "HTTP port of the API (0 = ephemeral)")
      ->capture_default_str();
  up_cmd->add_option("--run-dir", up.run_dir, "state, tokens and logs of the cluster");
  up_cmd->add_option("--timeout-s", up.timeout_s, "deadline to become healthy")
      ->capture_default_str();
  up_cmd->add_option("--kv-blocks", up.kv_blocks, "KV blocks per worker (0 = engine default)");
  up_cmd
      ->add_option("--sim-time-scale", up.sim_time_scale,
                   "sim engine: wall seconds per modelled second")
      ->capture_default_str();
  std::string run_dir;
  bool json = false;
  auto* status_cmd = app.add_subcommand("status", "list the processes and the cluster health");
  status_cmd->add_option("--run-dir", run_dir, "run dir of the cluster");
  status_cmd->add_flag("--json", json, "print one JSON object");
  int grace_s = 5;
  auto* down_cmd = app.add_subcommand("down", "stop exactly the processes `up` started");
  down_cmd->add_option("--run-dir", run_dir, "run dir of the cluster");
  down_cmd->add_option("--grace-s", grace_s, "seconds between SIGTERM and SIGKILL")
      ->capture_default_str();
  app.footer("Also: --config is not used; every setting is a flag.");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (up_cmd->parsed()) return kvc::local::Up(up);
  if (status_cmd->parsed()) return kvc::local::PrintStatus(run_dir, json);
  return kvc::local::Down(run_dir, grace_s);
}

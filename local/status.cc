// kvc-local status and down.
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "absl/strings/str_format.h"
#include "kvc/common/json.h"
#include "local/cluster.h"
#include "local/cluster_probe.h"

namespace kvc::local {
namespace {

std::string ReadToken(const std::string& path) {
  std::ifstream in(path);
  std::string t;
  std::getline(in, t);
  return t;
}

std::string Dir(const std::string& run_dir) { return run_dir.empty() ? DefaultRunDir() : run_dir; }

void PrintJson(const ClusterState& s, const ClusterHealth& h) {
  nlohmann::json procs = nlohmann::json::array();
  for (const auto& p : s.processes) {
    procs.push_back({{"name", p.name},
                     {"pid", p.pid},
                     {"alive", IsAlive(p)},
                     {"address", AddressFromPortFile(p.port_file)},
                     {"log", p.log}});
  }
  nlohmann::json j = {{"base_url", s.base_url},
                      {"conductor_address", s.conductor_address},
                      {"master_address", s.master_address},
                      {"model_id", s.model_id},
                      {"model_dir", s.model_dir},
                      {"engine", s.engine},
                      {"processes", procs},
                      {"prefill_up", h.prefill_up},
                      {"decode_up", h.decode_up},
                      {"http_health", h.http_status}};
  std::cout << kvc::DumpJson(j, 2) << "\n";
}

void PrintTable(const std::string& dir, const ClusterState& s, const ClusterHealth& h) {
  std::cout << "kvc-local cluster in " << dir << ": " << s.base_url << " (model " << s.model_id
            << ", " << s.engine << " engine)\n";
  std::cout << absl::StrFormat("%-12s %-8s %-6s %-22s %s\n", "NAME", "PID", "STATE", "ADDRESS",
                               "LOG");
  for (const auto& p : s.processes) {
    std::cout << absl::StrFormat("%-12s %-8d %-6s %-22s %s\n", p.name, p.pid,
                                 IsAlive(p) ? "alive" : "dead", AddressFromPortFile(p.port_file),
                                 p.log);
  }
  std::cout << absl::StrFormat(
      "health: %d/%d processes serving gRPC; conductor lists %d prefill and %d decode nodes up; "
      "HTTP /health %d\n",
      h.processes_serving, static_cast<int>(s.processes.size()), h.prefill_up, h.decode_up,
      h.http_status);
}

}  // namespace

int PrintStatus(const std::string& run_dir, bool json) {
  const std::string dir = Dir(run_dir);
  auto state = LoadState(dir);
  if (!state.ok()) {
    std::cerr << "kvc-local status: " << state.status().message() << "\n";
    return 1;
  }
  const ClusterHealth h =
      ProbeCluster(*state, ReadToken(dir + "/admin.token"), std::chrono::milliseconds(1000));
  if (json) {
    PrintJson(*state, h);
  } else {
    PrintTable(dir, *state, h);
  }
  const bool healthy =
      h.processes_serving == static_cast<int>(state->processes.size()) && h.http_status == 200;
  return healthy ? 0 : 1;
}

int Down(const std::string& run_dir, int grace_s) {
  const std::string dir = Dir(run_dir);
  auto state = LoadState(dir);
  if (!state.ok()) {
    std::cout << "kvc-local down: nothing to stop (" << state.status().message() << ")\n";
    return 0;
  }
  // Workers first (they deregister and leave the pool while conductor and master
  // still answer), then the conductor, then the master.
  std::vector<ProcessRecord> workers, core;
  for (const auto& p : state->processes) {
    (p.name == "master" || p.name == "conductor" ? core : workers).push_back(p);
  }
  std::reverse(core.begin(), core.end());
  int alive = 0;
  for (const auto& p : state->processes) alive += IsAlive(p) ? 1 : 0;
  std::vector<std::string> killed = StopAll(workers, std::chrono::seconds(grace_s));
  for (const auto& p : core) {
    for (const auto& k : StopAll({p}, std::chrono::seconds(grace_s))) killed.push_back(k);
  }
  std::filesystem::remove(dir + "/cluster.json");
  std::cout << "kvc-local down: stopped " << alive << " process(es) of " << dir;
  if (!killed.empty()) {
    std::cout << " (SIGKILL after " << grace_s << " s:";
    for (const auto& k : killed) std::cout << " " << k;
    std::cout << ")";
  }
  std::cout << "; logs kept in " << dir << "\n";
  return 0;
}

}  // namespace kvc::local

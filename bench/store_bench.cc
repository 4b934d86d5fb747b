#include "bench/store_bench.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "absl/strings/str_cat.h"
#include "bench/store_bench_internal.h"
#include "kvc/common/json.h"

extern char** environ;

namespace kvc::bench {

LocalStoreCluster::~LocalStoreCluster() {
  for (auto it = pids_.rbegin(); it != pids_.rend(); ++it) {
    kill(*it, SIGTERM);
    int status = 0;
    for (int i = 0; i < 500 && waitpid(*it, &status, WNOHANG) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (waitpid(*it, &status, WNOHANG) == 0) {
      kill(*it, SIGKILL);
      waitpid(*it, &status, 0);
    }
  }
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

StatusOr<int> LocalStoreCluster::Spawn(const std::vector<std::string>& args,
                                       const std::string& port_file) {
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  if (posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ) != 0) {
    return absl::NotFoundError(absl::StrCat("cannot start ", args[0]));
  }
  pids_.push_back(pid);
  for (int i = 0; i < 3000; ++i) {  // up to 30 s (a large DRAM region takes a while to touch)
    std::ifstream in(port_file);
    int port = 0;
    if (in >> port && port > 0) return port;
    if (waitpid(pid, nullptr, WNOHANG) == pid) {
      pids_.pop_back();
      return absl::InternalError(absl::StrCat(args[0], " exited during start-up"));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return absl::DeadlineExceededError(absl::StrCat(args[0], " did not report its port in 30 s"));
}

Status LocalStoreCluster::Start(const StoreBenchConfig& c, uint64_t dram_bytes) {
  char tmpl[] = "/tmp/kvc-bench-store-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return absl::InternalError("cannot create a temp dir");
  dir_ = tmpl;
  const std::string bin = std::filesystem::read_symlink("/proc/self/exe").parent_path().string();
  std::vector<std::string> master = {bin + "/kvc-master",
                                     "--listen-address",
                                     "127.0.0.1:0",
                                     "--port-file",
                                     dir_ + "/master.port",
                                     "--log-level",
                                     "warn",
                                     "--store-heartbeat-interval-ms",
                                     "200",
                                     "--store-max-object-bytes",
                                     std::to_string(std::max<uint64_t>(c.value_size, 1))};
  // The default 5 s read lease everywhere but --ssd: there a short lease shortens
  // the master's start-up grace (no eviction, hence no demotion, for one lease
  // period), at the price of client lease-cache entries that last only 1 s.
  if (c.ssd) master.insert(master.end(), {"--store-lease-ms", "2000"});
  KVC_ASSIGN_OR_RETURN(const int master_port, Spawn(master, dir_ + "/master.port"));
  master_address_ = absl::StrCat("127.0.0.1:", master_port);
  std::vector<std::string> node = {
      bin + "/kvc-store",
      "--listen-address",
      "127.0.0.1:0",
      "--port-file",
      dir_ + "/store.port",
      "--log-level",
      "warn",
      "--node-id",
      "bench-store-1",
      "--master-address",
      master_address_,
      "--store-dram-bytes",
      std::to_string(dram_bytes),
      "--store-staging-bytes",
      std::to_string(std::max<uint64_t>(64 << 20, 4 * c.clients * c.value_size))};
  if (!c.shared_memory) node.push_back("--store-shared-memory=false");
  if (c.ssd) {
    node.insert(node.end(), {"--store-ssd-path", dir_ + "/ssd", "--store-ssd-bytes",
                             std::to_string(64ull << 30)});
  }
  KVC_ASSIGN_OR_RETURN(const int store_port, Spawn(node, dir_ + "/store.port"));
  (void)store_port;
  return Status();
}

namespace {

Status Validate(const StoreBenchConfig& c) {
  if (c.local == !c.master_address.empty()) {
    return absl::InvalidArgumentError("give exactly one of --local or --master-address ADDR");
  }
  if (!c.master_address.empty() && (c.ssd || c.dram_bytes > 0)) {
    return absl::InvalidArgumentError(
        "--ssd and --dram-bytes size the --local node; with --master-address the nodes are "
        "already running");
  }
  if (c.value_size == 0 || c.clients == 0 || c.duration <= 0) {
    return absl::InvalidArgumentError("--value-size, --clients and --duration must be > 0");
  }
  if (c.value_size > (1ull << 30)) {
    return absl::InvalidArgumentError("--value-size: at most 1 GiB");
  }
  if (c.batch == 0 || c.batch > 4096 || c.batch * c.value_size > (1ull << 30)) {
    return absl::InvalidArgumentError(
        "--batch: 1..4096 values per call, and batch x value size at most 1 GiB");
  }
  return Status();
}

void Print(const StoreBenchConfig& c, const StoreBenchResult& r) {
  const double put_ops = r.put_seconds > 0 ? r.puts / r.put_seconds : 0;
  const double get_ops = r.get_seconds > 0 ? r.gets / r.get_seconds : 0;
  if (c.batch > 1)
    std::printf("batch %u: ops/s and MB/s count values, p50/p99 are per call\n", c.batch);
  std::printf("%-6s %10s %7s %10s %12s %10s %10s %7s\n", "op", "value", "clients", "ops/s", "MB/s",
              "p50 us", "p99 us", "errors");
  std::printf("%-6s %10llu %7u %10.0f %12.1f %10.1f %10.1f %7llu\n", "put",
              static_cast<unsigned long long>(c.value_size), c.clients, put_ops,
              put_ops * c.value_size / 1e6, r.put_p50_us, r.put_p99_us,
              static_cast<unsigned long long>(r.errors));
  std::printf("%-6s %10llu %7u %10.0f %12.1f %10.1f %10.1f %7s\n", "get",
              static_cast<unsigned long long>(c.value_size), c.clients, get_ops,
              get_ops * c.value_size / 1e6, r.get_p50_us, r.get_p99_us, "");
  if (!r.first_error.empty()) std::printf("first error: %s\n", r.first_error.c_str());
  nlohmann::json j = {{"value_size", c.value_size},
                      {"clients", c.clients},
                      {"batch", c.batch},
                      {"ssd", c.ssd},
                      {"lease_cache", c.lease_cache},
                      {"shared_memory", c.shared_memory},
                      {"puts", r.puts},
                      {"gets", r.gets},
                      {"put_ops_per_second", put_ops},
                      {"get_ops_per_second", get_ops},
                      {"put_bytes_per_second", put_ops * c.value_size},
                      {"get_bytes_per_second", get_ops * c.value_size},
                      {"put_p50_us", r.put_p50_us},
                      {"put_p99_us", r.put_p99_us},
                      {"get_p50_us", r.get_p50_us},
                      {"get_p99_us", r.get_p99_us},
                      {"put_retries", r.put_retries},
                      {"demotions", r.demotions},
                      {"master_gets", r.master_gets},
                      {"errors", r.errors},
                      {"values_verified", r.values_verified},
                      {"verified", r.verified}};
  if (r.memcpy_bytes_per_second > 0) {
    std::printf(
        "memcpy reference over the same working set: %.1f MB/s (put = %.2f x, get = %.2f x)\n",
        r.memcpy_bytes_per_second / 1e6, put_ops * c.value_size / r.memcpy_bytes_per_second,
        get_ops * c.value_size / r.memcpy_bytes_per_second);
    j["memcpy_reference_bytes_per_second"] = r.memcpy_bytes_per_second;
    j["put_vs_memcpy"] = put_ops * c.value_size / r.memcpy_bytes_per_second;
    j["get_vs_memcpy"] = get_ops * c.value_size / r.memcpy_bytes_per_second;
  }
  if (r.transfer_bytes_per_second > 0) {
    std::printf(
        "transfer engine alone (%s, same values, batch 1): %.1f MB/s, %.0f ops/s, p50 %.1f us, "
        "p99 %.1f us (get = %.2f x)\n",
        r.transfer_backend.c_str(), r.transfer_bytes_per_second / 1e6,
        r.transfer_bytes_per_second / static_cast<double>(c.value_size), r.transfer_p50_us,
        r.transfer_p99_us, get_ops * c.value_size / r.transfer_bytes_per_second);
    j["transfer_reference_p50_us"] = r.transfer_p50_us;
    j["transfer_reference_p99_us"] = r.transfer_p99_us;
    j["transfer_reference_bytes_per_second"] = r.transfer_bytes_per_second;
    j["transfer_reference_backend"] = r.transfer_backend;
    j["get_vs_transfer"] = get_ops * c.value_size / r.transfer_bytes_per_second;
  }
  std::printf("%s\n", kvc::DumpJson(j).c_str());
}

int Run(const StoreBenchConfig& c) {
  if (Status s = Validate(c); !s.ok()) {
    std::fprintf(stderr, "kvc-bench store: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  // Keys per client: enough for the put phase at a few GB/s, bounded by memory.
  const uint64_t budget = c.ssd ? (8ull << 30) : (2ull << 30);
  const uint64_t keys_per_client =
      c.keys_per_client > 0 ? c.keys_per_client
                            : std::clamp<uint64_t>(budget / (c.value_size * c.clients), 1, 100'000);
  const uint64_t data = keys_per_client * c.clients * c.value_size;
  uint64_t dram = c.dram_bytes;
  if (dram == 0)
    dram = c.ssd ? std::max<uint64_t>(data / 4, 64 << 20) : data + data / 8 + (16 << 20);
  StatusOr<StoreBenchResult> result = absl::UnknownError("not run");
  if (!c.master_address.empty()) {
    result = RunStoreClients(c, c.master_address, keys_per_client);
  } else {
    LocalStoreCluster cluster;  // stopped before the reference runs
    if (Status s = cluster.Start(c, dram); !s.ok()) {
      std::fprintf(stderr, "kvc-bench store: %s\n", std::string(s.message()).c_str());
      return 1;
    }
    result = RunStoreClients(c, cluster.master_address(), keys_per_client);
  }
  if (!result.ok()) {
    std::fprintf(stderr, "kvc-bench store: %s\n", result.status().ToString().c_str());
    return 1;
  }
  if (c.memcpy_reference) {
    result->memcpy_bytes_per_second = MemcpyReference(c, keys_per_client, c.duration / 2);
  }
  Print(c, *result);
  return result->errors == 0 && result->verified ? 0 : 1;
}

}  // namespace

BenchCommand RegisterStoreCommand(CLI::App& app) {
  auto config = std::make_shared<StoreBenchConfig>();
  CLI::App* sub = app.add_subcommand("store", "KVCache store put/get benchmark (docs/store.md)");
  sub->add_flag("--local", config->local, "start kvc-master and one kvc-store on 127.0.0.1");
  sub->add_option("--master-address", config->master_address,
                  "use this running kvc-master and its nodes instead of --local (the keys the "
                  "run puts must not exist yet: use a fresh master)");
  sub->add_option("--backend", config->backend,
                  "transfer backend of the clients: auto, tcp, shm, ucx, verbs")
      ->capture_default_str();
  sub->add_option("--value-size", config->value_size, "bytes per value");
  sub->add_option("--clients", config->clients, "client threads");
  sub->add_option("--batch", config->batch,
                  "values per call: 1 = Put/Get, N = BatchPut/BatchGet of N values (p50/p99 "
                  "are then per call)")
      ->capture_default_str();
  sub->add_option("--duration", config->duration, "seconds (half put, half get)");
  sub->add_flag("--ssd", config->ssd,
                "give the node an SSD tier (RocksDB) and a DRAM of 1/4 the data");
  sub->add_option("--dram-bytes", config->dram_bytes, "node DRAM (0 = sized from the run)");
  sub->add_option("--replicas", config->replicas, "replicas per put");
  sub->add_option("--keys-per-client", config->keys_per_client,
                  "distinct keys each client puts (0 = fill 2 GiB, 8 GiB with --ssd)");
  sub->add_flag(
      "--no-lease-cache", [config](int64_t) { config->lease_cache = false; },
      "ask the master on every get (no client-side lease cache)");
  sub->add_flag("--transfer-reference", config->transfer_reference,
                "after the timed phases, read the same values straight through the transfer "
                "engine (no master, no client library) and report get_vs_transfer");
  sub->add_flag("--memcpy-reference", config->memcpy_reference,
                "after the run, measure memcpy over a working set of the same size (the ceiling)");
  sub->add_flag(
      "--no-shared-memory", [config](int64_t) { config->shared_memory = false; },
      "node DRAM in private memory (same-host reads by cross-memory attach, not memcpy)");
  return BenchCommand{sub, [config] { return Run(*config); }};
}

}  // namespace kvc::bench

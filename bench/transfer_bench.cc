#include "bench/transfer_bench.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "absl/strings/str_cat.h"
#include "bench/transfer_bench_internal.h"
#include "kvc/common/json.h"
#include "kvc/common/logging.h"
#include "kvc/transfer/verbs_probe.h"

extern char** environ;

namespace kvc::bench {
namespace {

using transfer::TransferEngine;

Status Validate(const TransferBenchConfig& c) {
  if (c.serve) return absl::OkStatus();
  if (!c.memcpy_baseline && c.loopback == !c.target.empty()) {
    return absl::InvalidArgumentError("give exactly one of --loopback or --target NAME");
  }
  if (c.op != "read" && c.op != "write") {
    return absl::InvalidArgumentError("--op must be read or write, not '" + c.op + "'");
  }
  if (c.block_size == 0 || c.batch == 0 || c.threads == 0 || c.duration <= 0) {
    return absl::InvalidArgumentError(
        "--block-size, --batch, --threads and --duration must be > 0");
  }
  if (c.backend == "verbs") {
    // Fails here, before a target is started, with the probe's one-line reason
    // (no RDMA device, or a build without libibverbs); with a device the run goes on.
    KVC_RETURN_IF_ERROR(transfer::ProbeVerbsDevices());
  }
  return transfer::ValidateTransferEngineOptions(c.engine);
}

// A child process running this binary as the loopback target; SIGTERM on destruction.
class LoopbackTarget {
 public:
  ~LoopbackTarget() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status = 0;
    for (int i = 0; i < 500 && waitpid(pid_, &status, WNOHANG) == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (waitpid(pid_, &status, WNOHANG) == 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, &status, 0);
    }
    unlink(port_file_.c_str());
  }

  StatusOr<std::string> Start(const TransferBenchConfig& c) {
    port_file_ = absl::StrCat("/tmp/kvc-bench-target-", getpid(), ".port");
    unlink(port_file_.c_str());
    const uint64_t bytes = uint64_t{c.threads} * ThreadSpan(c);
    std::vector<std::string> args = {
        "/proc/self/exe",       "transfer",    "--serve",  "--region-bytes",
        std::to_string(bytes),  "--port-file", port_file_, "--token",
        c.engine.cluster_token, "--backend",   c.backend};
    if (c.heap_region) args.push_back("--heap-region");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, "/proc/self/exe", nullptr, nullptr, argv.data(), environ) != 0) {
      return absl::InternalError("cannot start the loopback target process");
    }
    for (int i = 0; i < 3000; ++i) {  // up to 30 s: filling a big region takes a while
      std::ifstream in(port_file_);
      int port = 0;
      if (in >> port && port > 0) return absl::StrCat("127.0.0.1:", port);
      if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
        pid_ = -1;
        return absl::InternalError("the loopback target process exited during start-up");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return absl::DeadlineExceededError("the loopback target did not start within 30 s");
  }

 private:
  pid_t pid_ = -1;
  std::string port_file_;
};

void Print(const TransferBenchConfig& c, const TransferBenchResult& r) {
  const double bps = r.seconds > 0 ? r.bytes / r.seconds : 0;
  const double ops = r.seconds > 0 ? r.ops / r.seconds : 0;
  std::printf("%-8s %-5s %10s %6s %7s %8s %12s %12s %10s %10s %7s %8s\n", "backend", "op", "block",
              "batch", "threads", "seconds", "GB/s", "ops/s", "p50_us", "p99_us", "errors",
              "verified");
  std::printf("%-8s %-5s %10llu %6u %7u %8.2f %12.3f %12.0f %10.1f %10.1f %7llu %8s\n",
              r.backend.c_str(), c.op.c_str(), static_cast<unsigned long long>(c.block_size),
              c.batch, c.threads, r.seconds, bps / 1e9, ops, r.p50_us, r.p99_us,
              static_cast<unsigned long long>(r.errors),
              c.verify ? (r.verified ? "yes" : "NO") : "-");
  if (!r.first_error.empty()) std::printf("first error: %s\n", r.first_error.c_str());
  nlohmann::json j = {
      {"backend", r.backend},
      {"op", c.op},
      {"block_size", c.block_size},
      {"batch", c.batch},
      {"threads", c.threads},
      {"seconds", r.seconds},
      {"bytes", r.bytes},
      {"bytes_per_second", bps},
      {"ops_per_second", ops},
      {"p50_us", r.p50_us},
      {"p99_us", r.p99_us},
      {"errors", r.errors},
      {"verified", r.verified},
      {"verify_requested", c.verify},
      {"slice_bytes", r.backend == "shm" ? c.engine.shm_slice_bytes : c.engine.slice_bytes},
      {"tcp_connections", c.engine.tcp_connections_per_peer},
      {"working_set", uint64_t{c.threads} * ThreadSpan(c)}};
  std::printf("%s\n", kvc::DumpJson(j).c_str());
  std::fflush(stdout);
}

int RunTransfer(TransferBenchConfig c) {
  if (Status s = Validate(c); !s.ok()) {
    std::fprintf(stderr, "kvc-bench transfer: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  if (c.serve) return ServeTransferTarget(c);
  if (c.memcpy_baseline) {
    Print(c, RunMemcpyBaseline(c));
    return 0;
  }
  LoopbackTarget child;
  std::string target = c.target;
  if (c.loopback) {
    auto name = child.Start(c);
    if (!name.ok()) {
      std::fprintf(stderr, "kvc-bench transfer: %s\n", name.status().ToString().c_str());
      return 1;
    }
    target = *name;
  }
  auto directory = transfer::MakePeerSegmentDirectory(c.engine.cluster_token);
  c.engine.listen_address = "";  // the initiator serves nothing
  c.engine.backend = c.backend;
  auto engine = transfer::CreateTransferEngine(c.engine, directory.get());
  StatusOr<transfer::SegmentHandle> handle =
      engine.ok() ? (*engine)->OpenSegment(target) : engine.status();
  StatusOr<TransferBenchResult> result = absl::UnknownError("not run");
  if (!handle.ok()) {
    result = handle.status();
  } else {
    auto descriptor = directory->Fetch(target);
    if (!descriptor.ok() || descriptor->regions.empty()) {
      result = absl::FailedPreconditionError("target " + target + " exposes no region");
    } else {
      result = RunTransferLoad(c, **engine, *handle, descriptor->regions.front());
    }
  }
  if (!result.ok()) {
    std::fprintf(stderr, "kvc-bench transfer: %s\n", result.status().ToString().c_str());
    return 1;
  }
  result->backend = *(*engine)->BackendOf(*handle);
  Print(c, *result);
  return result->errors == 0 && (!c.verify || result->verified) ? 0 : 1;
}

}  // namespace

BenchCommand RegisterTransferCommand(CLI::App& app) {
  auto config = std::make_shared<TransferBenchConfig>();
  CLI::App* sub = app.add_subcommand("transfer", "transfer engine micro-benchmark");
  TransferBenchConfig& c = *config;
  sub->add_flag("--loopback", c.loopback, "start a target process on 127.0.0.1 and stop it after");
  sub->add_option("--target", c.target, "segment name (ip:port) of a running engine");
  sub->add_option("--backend", c.backend, "tcp|shm|ucx|verbs|auto")->capture_default_str();
  sub->add_option("--op", c.op, "read|write")->capture_default_str();
  sub->add_option("--block-size", c.block_size, "bytes per entry")->capture_default_str();
  sub->add_option("--batch", c.batch, "entries per batch")->capture_default_str();
  sub->add_option("--threads", c.threads, "submitting threads")->capture_default_str();
  sub->add_option("--duration", c.duration, "seconds to run")->capture_default_str();
  sub->add_flag("--verify", c.verify, "check the bytes after the timed run");
  sub->add_option("--working-set", c.working_set,
                  "remote bytes the threads cycle through (0 = each reuses its own blocks; "
                  "larger than the CPU caches measures DRAM, as the store bench does)")
      ->capture_default_str();
  sub->add_flag("--memcpy", c.memcpy_baseline,
                "measure single-thread memcpy of the same blocks instead (reference)");
  sub->add_option("--slice-bytes", c.engine.slice_bytes, "engine slice size")
      ->capture_default_str();
  sub->add_option("--shm-slice-bytes", c.engine.shm_slice_bytes, "engine slice size on shm")
      ->capture_default_str();
  sub->add_option("--connections", c.engine.tcp_connections_per_peer, "TCP connections per peer")
      ->capture_default_str();
  sub->add_option("--shm-threads", c.engine.shm_threads_per_peer, "copy threads per shm peer")
      ->capture_default_str();
  sub->add_option("--token", c.engine.cluster_token, "cluster token")->capture_default_str();
  sub->add_flag("--heap-region", c.heap_region,
                "loopback target registers heap memory instead of AllocateSharedMemory "
                "(same-host peers then use cross-memory attach)");
  sub->add_flag("--serve", c.serve,
                "run as a target (what --loopback starts): a pattern-filled region of "
                "--region-bytes, port written to --port-file, served until SIGTERM");
  sub->add_option("--region-bytes", c.region_bytes, "--serve: region size (bytes)");
  sub->add_option("--port-file", c.port_file, "--serve: file the bound port is written to");
  sub->add_option("--listen-address", c.listen_address,
                  "--serve: TCP address of the target (another host's peers need a routable one)")
      ->capture_default_str();
  return {sub, [config] { return RunTransfer(*config); }};
}

}  // namespace kvc::bench

// kvc-master: KV pool metadata service (segments, replicas, leases, eviction, prefix matching).
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <thread>

#include "kvc/common/clock.h"
#include "kvc/common/logging.h"
#include "kvc/common/metrics.h"
#include "kvc/rpc/server.h"
#include "kvc/rpc/service_auth.h"
#include "kvc/store/master_options.h"
#include "store/etcd/etcd_client.h"
#include "store/etcd/master_locator.h"
#include "store/master/leader_election.h"
#include "store/master/master_core.h"
#include "store/master/master_service.h"
#include "store/master/metrics_http.h"

namespace {
constexpr const char* kDescription =
    "kvc-master: KV pool metadata service (segments, replicas, leases, eviction, prefix "
    "matching).\n"
    "Serves kvc.v1.StoreMaster and grpc.health.v1. State is in memory: after a restart, store\n"
    "nodes re-register and report their contents. With --etcd-endpoints, several masters elect a\n"
    "leader with an etcd lease; standbys answer NOT_LEADER until they take over.";

// Runs MasterCore::Tick every `period` until stopped.
class Ticker {
 public:
  Ticker(kvc::store::MasterCore& core, std::chrono::milliseconds period)
      : thread_([this, &core, period] {
          std::unique_lock lock(mu_);
          while (!cv_.wait_for(lock, period, [this] { return stop_; })) core.Tick();
        }) {}
  ~Ticker() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// etcd mode: serve at once (health, and StoreMaster answering NOT_LEADER while a
// standby), campaign for leadership, exit when leadership is lost.
int ServeWithElection(const kvc::MasterOptions& options, kvc::store::MasterCore& core,
                      kvc::MetricsRegistry& metrics) {
  auto log = kvc::Logger("master");
  if (kvc::Status s = kvc::SetLogLevel(options.server.log_level); !s.ok()) return 2;
  auto endpoints = kvc::store::EtcdClient::ParseEndpoints(options.etcd_endpoints);
  if (!endpoints.ok()) {
    std::fprintf(stderr, "kvc-master: configuration error: %s\n",
                 std::string(endpoints.status().message()).c_str());
    return 2;
  }
  kvc::store::EtcdClient etcd(*endpoints, std::chrono::seconds(2));
  std::atomic<bool> leader{false};
  kvc::store::MasterService service(core, metrics, options.policy.heartbeat_interval_ms, &leader);
  if (kvc::Status s = kvc::RequireClusterToken(&service, options.cluster_token); !s.ok()) {
    std::fprintf(stderr, "kvc-master: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  auto server = kvc::RunningServer::Start("master", options.server, {&service});
  if (!server.ok()) {
    log->error("{}", server.status().message());
    return 1;
  }
  if (!options.server.port_file.empty()) {
    if (kvc::Status s = kvc::WritePortFile(options.server.port_file, (*server)->port()); !s.ok()) {
      log->error("port_file: {}", s.message());
      return 1;
    }
  }
  std::atomic<bool> lost{false};
  kvc::store::LeaderElection election(
      etcd, kvc::store::MasterLocator::LeaderKey(options.etcd_prefix), (*server)->address(),
      options.etcd_lease_ttl_s, leader, [&lost] {
        lost = true;
        kill(getpid(), SIGTERM);  // wakes the signal wait below
      });
  election.Start();
  log->info("master serving gRPC on {}, campaigning in etcd {}", (*server)->address(),
            options.etcd_endpoints);
  std::printf("kvc-master listening on %s\n", (*server)->address().c_str());
  std::fflush(stdout);
  kvc::WaitForTerminationSignal();
  election.Stop();
  (*server)->Shutdown(options.server.shutdown_grace_ms);
  return lost ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  kvc::BlockTerminationSignals();
  kvc::MasterOptions options;
  kvc::OptionSet set;
  kvc::BindMasterOptions(set, &options);
  int exit_code = 0;
  if (!kvc::ParseCommandLine(argc, argv, "kvc-master", kDescription, set, &exit_code)) {
    return exit_code;
  }
  if (kvc::Status s = kvc::ValidateMasterOptions(options); !s.ok()) {
    std::fprintf(stderr, "kvc-master: configuration error: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  kvc::MetricsRegistry& metrics = kvc::MetricsRegistry::Default();
  kvc::store::MasterCore core(options.policy, kvc::Clock::Real(), metrics);
  Ticker ticker(core, std::chrono::milliseconds(options.tick_ms));
  std::unique_ptr<kvc::http::HttpServer> metrics_http;  // stopped after the gRPC server
  if (options.metrics_port >= 0) {
    auto started = kvc::store::StartMetricsHttp(options.metrics_address, options.metrics_port,
                                                options.metrics_port_file, metrics);
    if (!started.ok()) {
      kvc::Logger("master")->error("{}", started.status().message());
      return 1;
    }
    metrics_http = std::move(*started);
    kvc::Logger("master")->info("Prometheus metrics on http://{}:{}/metrics",
                                options.metrics_address, metrics_http->port());
  }
  if (options.etcd_endpoints.empty()) {
    kvc::store::MasterService service(core, metrics, options.policy.heartbeat_interval_ms);
    if (kvc::Status s = kvc::RequireClusterToken(&service, options.cluster_token); !s.ok()) {
      std::fprintf(stderr, "kvc-master: %s\n", std::string(s.message()).c_str());
      return 1;
    }
    return kvc::ServeUntilSignalled("master", options.server, {&service});
  }
  return ServeWithElection(options, core, metrics);
}

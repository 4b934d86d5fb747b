// kvc-master: KV pool metadata service (segments, replicas, leases, eviction, prefix matching).
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "kvc/common/clock.h"
#include "kvc/common/metrics.h"
#include "kvc/rpc/server.h"
#include "kvc/store/master_options.h"
#include "store/master/master_core.h"
#include "store/master/master_service.h"

namespace {
constexpr const char* kDescription =
    "kvc-master: KV pool metadata service (segments, replicas, leases, eviction, prefix matching).\n"
    "Serves kvc.v1.StoreMaster and grpc.health.v1. State is in memory: after a restart, store\n"
    "nodes re-register and report their contents.";

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
  if (!options.etcd_endpoints.empty()) {
    std::fprintf(stderr, "kvc-master: configuration error: etcd.endpoints: etcd mode is not built yet\n");
    return 2;
  }
  kvc::MetricsRegistry& metrics = kvc::MetricsRegistry::Default();
  kvc::store::MasterCore core(options.policy, kvc::Clock::Real(), metrics);
  kvc::store::MasterService service(core, metrics, options.policy.heartbeat_interval_ms);
  Ticker ticker(core, std::chrono::milliseconds(options.tick_ms));
  return kvc::ServeUntilSignalled("master", options.server, {&service});
}

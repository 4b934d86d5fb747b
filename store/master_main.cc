// kvc-master: KV pool metadata service (segments, replicas, leases, eviction, prefix matching).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

#include "kvc/common/clock.h"
#include "kvc/common/ids.h"
#include "kvc/common/logging.h"
#include "kvc/common/metrics.h"
#include "kvc/common/net_address.h"
#include "kvc/http/metrics_endpoint.h"
#include "kvc/membership/membership_metrics.h"
#include "kvc/membership/node_registry.h"
#include "kvc/membership/registry_service.h"
#include "kvc/rpc/process_main.h"
#include "kvc/rpc/server.h"
#include "kvc/rpc/service_auth.h"
#include "kvc/store/master_options.h"
#include "store/etcd/etcd_client.h"
#include "store/etcd/master_locator.h"
#include "store/master/leader_election.h"
#include "store/master/leadership.h"
#include "store/master/master_core.h"
#include "store/master/master_service.h"

namespace {
constexpr const char* kDescription =
    "kvc-master: KV pool metadata service (segments, replicas, leases, eviction, prefix "
    "matching).\n"
    "Serves kvc.v1.StoreMaster and grpc.health.v1. State is in memory: after a restart, store\n"
    "nodes re-register and report their contents. Also serves the cluster membership\n"
    "(kvc.v1.NodeRegistry: prefill/decode nodes register and heartbeat, conductors read it).\n"
    "With --etcd-endpoints, several masters elect a leader with an etcd lease; standbys answer\n"
    "NOT_LEADER until they take over.";

// Runs MasterCore::Tick, then `also`, every `period` until stopped.
class Ticker {
 public:
  Ticker(kvc::store::MasterCore& core, std::chrono::milliseconds period, std::function<void()> also)
      : thread_([this, &core, period, also = std::move(also)] {
          std::unique_lock lock(mu_);
          while (!cv_.wait_for(lock, period, [this] { return stop_; })) {
            Log(core.Tick());
            also();
          }
        }) {}
  ~Ticker() { Stop(); }

 private:
  static void Log(const kvc::store::TickReport& report) {
    for (const kvc::store::ExpiredNode& e : report.expired_nodes) {
      kvc::Logger("master")->warn(
          "node {} ({}) expired: no heartbeat for {} ms; dropped its {} replicas", e.node_id,
          e.hostname, e.silent_ms, e.dropped_replicas);
    }
  }
  void Stop() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// Leaders stop acting as such this long (at least) before their lease can expire.
constexpr auto kMinLeaseMargin = std::chrono::milliseconds(100);

// Hands out no DRAM range for `grace_ms` (see MasterCore::FenceAllocations).
void FenceAfterTakeOver(kvc::store::MasterCore& core, uint64_t grace_ms, const char* why) {
  if (grace_ms == 0) return;
  core.FenceAllocations(kvc::Clock::Real().Now() + std::chrono::milliseconds(grace_ms));
  kvc::Logger("master")->warn(
      "{}: refusing PutStart (TAKEOVER_GRACE) for {} ms, until writes a previous master "
      "allowed have landed; reads go on",
      why, grace_ms);
}

// The cluster membership this master serves (soft state, like the store's).
kvc::membership::NodeRegistryOptions MembershipOptionsOf(const kvc::MasterOptions& o) {
  kvc::membership::NodeRegistryOptions m;
  m.heartbeat_timeout = std::chrono::milliseconds(o.membership_heartbeat_timeout_ms);
  m.heartbeat_interval_ms = o.membership_heartbeat_interval_ms;
  return m;  // no model check here: each conductor filters the nodes of its own model
}

// The membership this master serves, joined with its store: a node a conductor
// reports unreachable (membership) is also suspect for the pool at once, so the
// next put of a key whose only replica is there replaces it (MasterCore), instead
// of waiting for store.node_suspect_ms. Everything else goes to the registry.
class PoolAwareMembership final : public kvc::membership::RegistryBackend {
 public:
  PoolAwareMembership(kvc::membership::NodeRegistry& registry, kvc::store::MasterCore& core)
      : registry_(registry), core_(core) {}
  kvc::Status Register(const kvc::v1::RegisterNodeRequest& r) override {
    return registry_.Register(r);
  }
  kvc::StatusOr<kvc::v1::NodeHeartbeatResponse> Heartbeat(
      const kvc::v1::NodeHeartbeatRequest& r) override {
    return registry_.Heartbeat(r);
  }
  kvc::Status Deregister(const std::string& id) override { return registry_.Deregister(id); }
  kvc::StatusOr<kvc::v1::ListMembersResponse> ListMembers() const override {
    return registry_.ListMembers();
  }
  kvc::StatusOr<kvc::v1::NodeInfo> SetDraining(const std::string& id, bool drain) override {
    return registry_.SetDraining(id, drain);
  }
  kvc::StatusOr<bool> MarkUnreachable(const std::string& id, const std::string& reason) override {
    // A pool segment of that id (a worker's, or a kvc-store's) turns suspect; an
    // id the store does not know (NOT_FOUND) changes nothing there.
    const bool in_pool = core_.ReportUnreachable(id).ok();
    kvc::StatusOr<bool> member = registry_.MarkUnreachable(id, reason);
    if (member.ok() && in_pool) return true;
    return member;
  }
  uint32_t heartbeat_interval_ms() const override { return registry_.heartbeat_interval_ms(); }

 private:
  kvc::membership::NodeRegistry& registry_;
  kvc::store::MasterCore& core_;
};

// etcd mode: serve at once (health, and StoreMaster answering NOT_LEADER while a
// standby), campaign for leadership, exit when leadership is lost.
int ServeWithElection(const kvc::MasterOptions& options, kvc::store::MasterCore& core,
                      kvc::MetricsRegistry& metrics, kvc::membership::NodeRegistry& members) {
  auto log = kvc::Logger("master");
  auto endpoints = kvc::store::EtcdClient::ParseEndpoints(options.etcd_endpoints);
  if (!endpoints.ok()) return kvc::ConfigurationError("kvc-master", endpoints.status());
  kvc::store::EtcdClient etcd(*endpoints, std::chrono::seconds(2));
  const auto ttl = std::chrono::seconds(options.etcd_lease_ttl_s);
  kvc::store::Leadership leadership(kvc::Clock::Real(), ttl,
                                    std::max<kvc::Clock::Duration>(ttl / 10, kMinLeaseMargin));
  kvc::store::MasterService service(core, metrics, options.policy.heartbeat_interval_ms,
                                    &leadership);
  if (kvc::Status s = kvc::RequireClusterToken(&service, options.cluster_token); !s.ok()) {
    std::fprintf(stderr, "kvc-master: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  PoolAwareMembership backend(members, core);
  kvc::membership::RegistryService membership(backend, options.cluster_token,
                                              [&leadership] { return leadership.Check(); });
  auto server = kvc::RunningServer::Start("master", options.server, {&service, &membership});
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
  const std::string prefix = options.etcd_prefix;
  kvc::store::LeaderElection election(
      etcd, kvc::Clock::Real(),
      kvc::store::ElectionOptions{
          .key = kvc::store::MasterLocator::LeaderKey(prefix),
          .history_key = prefix + "/led",
          .address = kvc::PublishedAddress(options.advertise_address, (*server)->address()),
          .ttl_s = options.etcd_lease_ttl_s},
      leadership,
      [&](bool predecessor) {
        if (predecessor) FenceAfterTakeOver(core, kvc::TakeoverGraceMs(options), "taking over");
        members.StartSettling();  // nodes re-register with the new leader
      },
      [&lost] {
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
  kvc::MasterOptions options;
  int exit_code = 0;
  if (!kvc::StartRole(
          argc, argv,
          {"kvc-master", kDescription,
           [&](kvc::OptionSet& set) { kvc::BindMasterOptions(set, &options); },
           [&] { return kvc::ValidateMasterOptions(options); }, &options.server.log_level,
           [&] { return kvc::MasterExposure(options); }, &options.server.tls},
          &exit_code)) {
    return exit_code;
  }
  kvc::MetricsRegistry& metrics = kvc::MetricsRegistry::Default();
  kvc::store::MasterCore core(options.policy, kvc::Clock::Real(), metrics);
  kvc::membership::NodeRegistry members(MembershipOptionsOf(options), kvc::Clock::Real());
  Ticker ticker(core, std::chrono::milliseconds(options.tick_ms),
                [&] { kvc::membership::ExportMembershipGauges(members, metrics); });
  std::unique_ptr<kvc::http::HttpServer> metrics_http;  // stopped after the gRPC server
  if (options.metrics_port >= 0) {
    const kvc::http::MetricsEndpointOptions endpoint{options.metrics_port, options.metrics_address,
                                                     options.metrics_port_file};
    const std::string node_id =
        options.server.node_id.empty() ? kvc::HostName() : options.server.node_id;
    auto started = kvc::http::StartMetricsEndpoint(endpoint, metrics,
                                                   {{"role", "master"}, {"node_id", node_id}});
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
    FenceAfterTakeOver(core, kvc::TakeoverGraceMs(options), "start-up (takeover_grace_ms)");
    if (kvc::Status s = kvc::RequireClusterToken(&service, options.cluster_token); !s.ok()) {
      std::fprintf(stderr, "kvc-master: %s\n", std::string(s.message()).c_str());
      return 1;
    }
    PoolAwareMembership backend(members, core);
    kvc::membership::RegistryService membership(backend, options.cluster_token);
    members.StartSettling();  // after a restart, nodes are still re-registering
    return kvc::ServeUntilSignalled("master", options.server, {&service, &membership});
  }
  return ServeWithElection(options, core, metrics, members);
}

// kvc-store: capacity node contributing DRAM/SSD to the KV pool.
#include <cstdio>

#include "kvc/common/ids.h"
#include "kvc/common/logging.h"
#include "kvc/common/metrics.h"
#include "kvc/common/net_address.h"
#include "kvc/http/metrics_endpoint.h"
#include "kvc/rpc/process_main.h"
#include "kvc/rpc/server.h"
#include "kvc/rpc/service_auth.h"
#include "kvc/store/segment_server.h"
#include "kvc/store/store_options.h"
#include "kvc/transfer/transfer_engine.h"

namespace {
constexpr const char* kDescription =
    "kvc-store: capacity node contributing DRAM (and an SSD tier on RocksDB) to the KV pool.\n"
    "Registers its DRAM with the transfer engine, mounts it with kvc-master, carries out the\n"
    "master's tasks (demotion to SSD, replication) and stages SSD reads (kvc.v1.StoreNode).";

int Serve(const kvc::StoreOptions& options) {
  auto log = kvc::Logger("store");
  const kvc::transfer::TransferEngineOptions transfer = kvc::EffectiveTransferOptions(options);
  auto directory = kvc::transfer::MakePeerSegmentDirectory(transfer.cluster_token);
  auto engine = kvc::transfer::CreateTransferEngine(transfer, directory.get());
  if (!engine.ok()) {
    log->error("transfer engine: {}", engine.status());
    return 1;
  }
  kvc::store::SegmentServerOptions seg;
  seg.node_id = options.server.node_id.empty() ? kvc::NewNodeId("store") : options.server.node_id;
  seg.master_address = options.master_address;
  seg.etcd_endpoints = options.etcd_endpoints;
  seg.etcd_prefix = options.etcd_prefix;
  seg.dram_bytes = options.dram_bytes;
  seg.staging_bytes = options.staging_bytes;
  seg.ssd_path = options.ssd_path;
  seg.ssd_bytes = options.ssd_bytes;
  seg.shared_memory = options.shared_memory;
  seg.cluster_token = transfer.cluster_token;  // for the master, when it requires one
  auto server = kvc::store::SegmentServer::Create(seg, **engine);
  if (!server.ok()) {
    log->error("{}", server.status());
    return 1;
  }
  // Stage/Unstage need the cluster token too, when one is configured (workers
  // embedding a SegmentServer wrap the same service the same way).
  if (kvc::Status s = kvc::RequireClusterToken((*server)->service(), options.cluster_token);
      !s.ok()) {
    log->error("{}", s.message());
    return 1;
  }
  auto rpc = kvc::RunningServer::Start("store", options.server, {(*server)->service()});
  if (!rpc.ok()) {
    log->error("{}", rpc.status().message());
    return 1;
  }
  auto metrics = kvc::http::StartMetricsEndpoint(options.metrics, kvc::MetricsRegistry::Default(),
                                                 {{"role", "store"}, {"node_id", seg.node_id}});
  if (!metrics.ok()) {
    log->error("{}", metrics.status().message());
    return 1;
  }
  if (!options.server.port_file.empty()) {
    if (kvc::Status s = kvc::WritePortFile(options.server.port_file, (*rpc)->port()); !s.ok()) {
      log->error("{}", s.message());
      return 1;
    }
  }
  // Register the announced, not the bound, address: store clients dial it.
  (*server)->Run(kvc::PublishedAddress(options.advertise_address, (*rpc)->address()));
  log->info("store {} serving gRPC on {}, transfer segment {}", seg.node_id, (*rpc)->address(),
            (*engine)->LocalSegment().name);
  std::printf("kvc-store listening on %s\n", (*rpc)->address().c_str());
  std::fflush(stdout);
  const int sig = kvc::WaitForTerminationSignal();
  log->info("received signal {}, leaving the pool", sig);
  (*rpc)->health().Shutdown();
  (*server)->Stop(/*unmount=*/true);
  (*rpc)->Shutdown(options.server.shutdown_grace_ms);
  metrics->reset();
  server->reset();
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  kvc::StoreOptions options;
  int exit_code = 0;
  if (!kvc::StartRole(
          argc, argv,
          {"kvc-store", kDescription,
           [&](kvc::OptionSet& set) { kvc::BindStoreOptions(set, &options); },
           [&] { return kvc::ValidateStoreOptions(options); }, &options.server.log_level,
           [&] { return kvc::StoreExposure(options); }, &options.server.tls},
          &exit_code)) {
    return exit_code;
  }
  return Serve(options);
}

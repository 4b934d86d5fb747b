// Options of kvc-store, filled from YAML, KVC_* env vars and flags (see
// kvc/common/config.h and docs/configuration.md).
#pragma once

#include <cstdint>
#include <string>

#include "kvc/common/config.h"
#include "kvc/common/status.h"
#include "kvc/http/metrics_endpoint.h"
#include "kvc/rpc/exposure.h"
#include "kvc/rpc/server.h"
#include "kvc/transfer/transfer_engine.h"

namespace kvc {

struct StoreOptions {
  ServerOptions server;  // listen_address defaults to 127.0.0.1:50081; node_id should be stable
  // host:port of this node's gRPC server as other hosts dial it (registered with
  // the master: store clients call Stage/Unstage there). "" = the bound address
  // (a wildcard host announced as 127.0.0.1).
  std::string advertise_address;
  std::string master_address = "127.0.0.1:50052";  // kvc-master gRPC address (no etcd)
  std::string etcd_endpoints;               // etcd HA: find the elected master there ("" = off)
  std::string etcd_prefix = "/kvc/master";  // key prefix of the master election
  uint64_t dram_bytes = 256ull << 20;       // DRAM contributed to the pool
  uint64_t staging_bytes = 64ull << 20;     // DRAM for staging SSD reads
  std::string ssd_path;                     // RocksDB directory of the SSD tier ("" = none)
  uint64_t ssd_bytes = 1ull << 30;          // SSD capacity announced to the master
  bool shared_memory = true;  // DRAM/staging from the engine's shared memory (memcpy for same-host
                              // peers); false = private memory (cross-memory attach)
  transfer::TransferEngineOptions transfer;  // the node's transfer engine (transfer.*)
  // Shared secret of the cluster (as on workers): when set, every StoreNode call
  // (Stage/Unstage) must carry it as "authorization: Bearer" (UNAUTHENTICATED
  // otherwise), it is sent to the master, and it replaces transfer.cluster_token.
  // "" = StoreNode open and transfer.cluster_token sent to the master (development).
  std::string cluster_token;
  // Prometheus /metrics (transfer engine, segment), labelled role="store" and
  // node_id: metrics_port (-1 = off), metrics_address, metrics_port_file.
  http::MetricsEndpointOptions metrics;
};

// The transfer options kvc-store really uses: transfer.cluster_token replaced by
// cluster_token when that is set; transfer.advertise_address defaulted from the
// announced gRPC host when transfer.listen_address is a wildcard.
transfer::TransferEngineOptions EffectiveTransferOptions(const StoreOptions& options);

void BindStoreOptions(OptionSet& set, StoreOptions* options);
// Also refuses to announce a gRPC or transfer address that is unspecified, or
// loopback while the master (or etcd) is on another host.
[[nodiscard]] Status ValidateStoreOptions(const StoreOptions& options);
// The gRPC, transfer and metrics listeners and the cluster token guarding them
// (kvc/rpc/exposure.h).
Exposure StoreExposure(const StoreOptions& options);

}  // namespace kvc

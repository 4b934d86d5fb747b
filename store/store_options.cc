#include "kvc/store/store_options.h"

#include "absl/strings/str_cat.h"
#include "kvc/common/net_address.h"

namespace kvc {

void BindStoreOptions(OptionSet& set, StoreOptions* o) {
  BindServerOptions(set, &o->server, "127.0.0.1:50081");
  set.Add("advertise_address", &o->advertise_address,
          "host:port other hosts use to reach this node's gRPC server (default: the bound "
          "address)");
  set.Add("master_address", &o->master_address, "kvc-master gRPC address host:port");
  set.Add("etcd.endpoints", &o->etcd_endpoints,
          "etcd client URLs where the elected kvc-master is found (empty = master_address)");
  set.Add("etcd.prefix", &o->etcd_prefix, "etcd key prefix of the master election");
  set.Add("store.dram_bytes", &o->dram_bytes, "DRAM bytes contributed to the KV pool");
  set.Add("store.staging_bytes", &o->staging_bytes, "DRAM bytes for staging SSD reads");
  set.Add("store.ssd_path", &o->ssd_path,
          "RocksDB directory of the SSD tier (empty = no SSD tier)");
  set.Add("store.ssd_bytes", &o->ssd_bytes, "SSD bytes announced to the master");
  set.Add("store.shared_memory", &o->shared_memory,
          "DRAM and staging regions in the transfer engine's shared memory, so same-host peers "
          "copy with memcpy (false = private memory, cross-memory attach)");
  transfer::BindTransferEngineOptions(set, &o->transfer, "transfer.");
  set.Add("cluster_token", &o->cluster_token,
          "shared secret: required on every StoreNode call, sent to the master, and the transfer "
          "engine's token (empty = StoreNode open; prefer KVC_CLUSTER_TOKEN)");
  http::BindMetricsEndpointOptions(set, &o->metrics);
}

transfer::TransferEngineOptions EffectiveTransferOptions(const StoreOptions& o) {
  transfer::TransferEngineOptions t = o.transfer;
  if (!o.cluster_token.empty()) t.cluster_token = o.cluster_token;
  t.advertise_address = transfer::DefaultTransferAdvertise(
      t, PublishedAddress(o.advertise_address, o.server.listen_address));
  return t;
}

namespace {

// Where this node's peers are: the master, or the etcd cluster that names it.
std::vector<std::string> ClusterAddresses(const StoreOptions& o) {
  if (o.etcd_endpoints.empty()) return {o.master_address};
  return HostPortsOfUrls(o.etcd_endpoints);
}

}  // namespace

Status ValidateStoreOptions(const StoreOptions& o) {
  KVC_RETURN_IF_ERROR(ValidateServerOptions(o.server));
  KVC_RETURN_IF_ERROR(ValidateHostPort("master_address", o.master_address));
  if (o.dram_bytes < 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("store.dram_bytes: ", o.dram_bytes, " is below the 4096-byte minimum"));
  }
  if (o.staging_bytes < 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("store.staging_bytes: ", o.staging_bytes, " is below the 4096-byte minimum"));
  }
  if (!o.ssd_path.empty() && o.ssd_bytes == 0) {
    return absl::InvalidArgumentError("store.ssd_bytes: must be > 0 with store.ssd_path set");
  }
  if (!o.advertise_address.empty()) {
    KVC_RETURN_IF_ERROR(ValidateHostPort("advertise_address", o.advertise_address));
  }
  KVC_RETURN_IF_ERROR(http::ValidateMetricsEndpointOptions(o.metrics));
  const transfer::TransferEngineOptions t = EffectiveTransferOptions(o);
  KVC_RETURN_IF_ERROR(transfer::ValidateTransferEngineOptions(t));
  KVC_RETURN_IF_ERROR(CheckAdvertisedAddress(
      "advertise_address", PublishedAddress(o.advertise_address, o.server.listen_address),
      ClusterAddresses(o),
      "set --advertise-address to HOST:PORT of this node as the other hosts reach it"));
  return transfer::CheckTransferAdvertise(t, ClusterAddresses(o));
}

Exposure StoreExposure(const StoreOptions& o) {
  return {{o.server.listen_address, o.transfer.listen_address,
           o.metrics.port >= 0 ? o.metrics.address : ""},
          {{"cluster_token", o.cluster_token}},
          o.server.insecure};
}

}  // namespace kvc

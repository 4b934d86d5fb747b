#include "absl/strings/str_cat.h"
#include "kvc/common/net_address.h"
#include "kvc/worker/worker_node.h"

namespace kvc::worker {
namespace {

void BindEngineOptions(OptionSet& set, engine::EngineOptions* o) {
  set.Add("engine.backend", &o->backend, "engine backend: cpu | cuda | sim");
  set.Add("engine.num_blocks", &o->num_blocks, "KV cache capacity in blocks");
  set.Add("engine.block_tokens", &o->block_tokens,
          "tokens per KV block (every node of a cluster must agree)");
  set.Add("engine.threads", &o->threads, "cpu backend: OpenBLAS threads (0 = library default)");
  set.Add("engine.cuda_device", &o->cuda_device, "cuda backend: device ordinal");
  set.Add("engine.sim_preset", &o->sim_preset, "sim backend: perfmodel preset");
  set.Add("engine.sim_time_scale", &o->sim_time_scale,
          "sim backend: wall seconds per modelled second (0.01 = 100x faster)");
  set.Add("engine.sim_kv_bytes_per_token", &o->sim_kv_bytes_per_token,
          "sim backend: real KV bytes kept per token");
}

Status ValidateEngineOptions(const engine::EngineOptions& o) {
  if (o.backend != "cpu" && o.backend != "cuda" && o.backend != "sim") {
    return absl::InvalidArgumentError(
        absl::StrCat("engine.backend: '", o.backend, "' is not one of cpu, cuda, sim"));
  }
  if (o.num_blocks < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("engine.num_blocks: ", o.num_blocks, " must be >= 1"));
  }
  if (o.block_tokens < 1 || o.block_tokens > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("engine.block_tokens: ", o.block_tokens, " is not in 1..4096"));
  }
  if (!(o.sim_time_scale >= 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("engine.sim_time_scale: ", o.sim_time_scale, " must be >= 0"));
  }
  return Status();
}

}  // namespace

void BindWorkerNodeOptions(OptionSet& set, WorkerNodeOptions* o,
                           const std::string& default_listen) {
  BindServerOptions(set, &o->server, default_listen);
  BindMembershipOptions(set, &o->membership);
  set.Add("model", &o->model_dir,
          "model directory (Hugging Face layout); empty = the built-in kvc-tiny model");
  set.Add("model_id", &o->model_id,
          "served model id (empty = config.json _name_or_path, else the directory name)");
  BindEngineOptions(set, &o->engine);
  transfer::BindTransferEngineOptions(set, &o->transfer, "transfer.");
  set.Add("master_address", &o->master_address,
          "kvc-master gRPC address of the KV pool (empty = no pool: no segment, no store client)");
  set.Add("etcd.endpoints", &o->etcd_endpoints,
          "etcd client URLs where the elected kvc-master is found, for the pool and membership "
          "(empty = master_address)");
  set.Add("etcd.prefix", &o->etcd_prefix, "etcd key prefix of the master election");
  set.Add("drain_timeout_ms", &o->drain_timeout_ms,
          "SIGTERM: how long running requests may take to finish before they are ended (ms)");
  set.Add("store.dram_bytes", &o->store_dram_bytes, "DRAM bytes this node adds to the KV pool");
  set.Add("store.ssd_path", &o->store_ssd_path,
          "RocksDB directory of this node's SSD tier (empty = no SSD tier)");
  set.Add("store.ssd_bytes", &o->store_ssd_bytes, "SSD bytes announced to the master");
  http::BindMetricsEndpointOptions(set, &o->metrics);
}

std::string AnnouncedRpcAddress(const WorkerNodeOptions& o) {
  return PublishedAddress(o.membership.advertise_address, o.server.listen_address);
}

transfer::TransferEngineOptions EffectiveTransferOptions(const WorkerNodeOptions& o) {
  transfer::TransferEngineOptions t = o.transfer;
  // One secret per cluster: the registration token also guards the transfer target.
  if (!o.membership.cluster_token.empty()) t.cluster_token = o.membership.cluster_token;
  t.advertise_address = transfer::DefaultTransferAdvertise(t, AnnouncedRpcAddress(o));
  return t;
}

namespace {

// Peers dial what this node announces: refuse what they could not reach.
Status CheckAnnouncedAddresses(const WorkerNodeOptions& o) {
  // etcd endpoints are URLs; their hosts count as cluster addresses too.
  std::vector<std::string> cluster = {o.membership.conductor_address, o.master_address};
  for (const std::string& hp : HostPortsOfUrls(o.etcd_endpoints)) cluster.push_back(hp);
  const bool announces = !o.membership.conductor_address.empty() || !o.master_address.empty() ||
                         !o.etcd_endpoints.empty();
  if (announces) {
    KVC_RETURN_IF_ERROR(CheckAdvertisedAddress(
        "advertise_address", AnnouncedRpcAddress(o), cluster,
        "set --advertise-address to HOST:PORT of this node as the other hosts reach it"));
  }
  return transfer::CheckTransferAdvertise(EffectiveTransferOptions(o), cluster);
}

}  // namespace

Status ValidateWorkerNodeOptions(const WorkerNodeOptions& o) {
  KVC_RETURN_IF_ERROR(ValidateServerOptions(o.server));
  KVC_RETURN_IF_ERROR(ValidateMembershipOptions(o.membership));
  KVC_RETURN_IF_ERROR(ValidateEngineOptions(o.engine));
  if (o.drain_timeout_ms > 3600000) {
    return absl::InvalidArgumentError(
        absl::StrCat("drain_timeout_ms: ", o.drain_timeout_ms, " is over 3600000"));
  }
  KVC_RETURN_IF_ERROR(transfer::ValidateTransferEngineOptions(EffectiveTransferOptions(o)));
  KVC_RETURN_IF_ERROR(http::ValidateMetricsEndpointOptions(o.metrics));
  if (!o.master_address.empty()) {
    KVC_RETURN_IF_ERROR(ValidateHostPort("master_address", o.master_address));
  }
  if (!o.master_address.empty() || !o.etcd_endpoints.empty()) {
    if (o.store_dram_bytes < 4096) {
      return absl::InvalidArgumentError(absl::StrCat("store.dram_bytes: ", o.store_dram_bytes,
                                                     " is below the 4096-byte minimum"));
    }
    if (!o.store_ssd_path.empty() && o.store_ssd_bytes == 0) {
      return absl::InvalidArgumentError("store.ssd_bytes: must be > 0 with store.ssd_path set");
    }
  }
  return CheckAnnouncedAddresses(o);
}

Exposure WorkerExposure(const WorkerNodeOptions& o) {
  return {{o.server.listen_address, o.transfer.listen_address,
           o.metrics.port >= 0 ? o.metrics.address : ""},
          {{"cluster_token", o.membership.cluster_token}},
          o.server.insecure};
}

}  // namespace kvc::worker

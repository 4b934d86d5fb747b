#include "kvc/store/master_options.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kvc/common/net_address.h"

namespace kvc {

void BindMasterOptions(OptionSet& set, MasterOptions* o) {
  BindServerOptions(set, &o->server, "127.0.0.1:50052");
  MasterPolicyOptions& p = o->policy;
  set.Add("store.default_replicas", &p.default_replicas,
          "replicas per object when a put asks for 0");
  set.Add("store.max_replicas", &p.max_replicas,
          "most replicas a put or ChangeReplica may ask for");
  set.Add("store.max_object_bytes", &p.max_object_bytes, "largest value a put may store (bytes)");
  set.Add("store.max_batch_keys", &p.max_batch_keys,
          "key limit of BatchGet/BatchExists/MatchPrefix");
  set.Add("store.heartbeat_interval_ms", &p.heartbeat_interval_ms, "node heartbeat period (ms)");
  set.Add("store.node_timeout_ms", &p.node_timeout_ms,
          "a node silent for this long is dead and its replicas dropped (ms)");
  set.Add("store.node_suspect_ms", &p.node_suspect_ms,
          "a node silent for this long (or reported unreachable) is suspect: a put may replace "
          "replicas held only there (ms; 0 = min(2.5 x heartbeat interval, node timeout))");
  set.Add("store.put_timeout_ms", &p.put_timeout_ms,
          "an unfinished PutStart is reclaimed after (ms)");
  set.Add("store.lease_ms", &p.lease_ms, "read lease granted by Get (ms)");
  set.Add("store.dram_high_watermark", &p.dram_high_watermark,
          "DRAM usage that starts eviction (0..1)");
  set.Add("store.dram_low_watermark", &p.dram_low_watermark, "DRAM usage eviction stops at (0..1)");
  set.Add("store.ssd_high_watermark", &p.ssd_high_watermark,
          "SSD usage that starts eviction (0..1)");
  set.Add("store.ssd_low_watermark", &p.ssd_low_watermark, "SSD usage eviction stops at (0..1)");
  set.Add("store.eviction_scan_limit", &p.eviction_scan_limit,
          "LRU candidates examined per eviction pass (approximate LRU)");
  set.Add("store.task_timeout_ms", &p.task_timeout_ms,
          "node task (demote/replicate) ack timeout (ms)");
  set.Add("store.promote_after_reads", &p.promote_after_reads,
          "an SSD-only object read this often within store.promote_window_ms is copied back "
          "to DRAM (0 = never)");
  set.Add("store.promote_window_ms", &p.promote_window_ms,
          "window in which store.promote_after_reads reads must fall (ms)");
  set.Add("tick_ms", &o->tick_ms, "housekeeping period (ms)");
  set.Add("membership.heartbeat_interval_ms", &o->membership_heartbeat_interval_ms,
          "heartbeat period prefill/decode nodes are told (ms)");
  set.Add("membership.heartbeat_timeout_ms", &o->membership_heartbeat_timeout_ms,
          "a prefill/decode node silent this long is down: out of placement (ms)");
  set.Add("advertise_address", &o->advertise_address,
          "etcd mode: host:port the leader publishes for nodes and clients (default: the bound "
          "address)");
  set.Add("etcd.endpoints", &o->etcd_endpoints,
          "etcd client URLs for leader election (empty = single in-memory master)");
  set.Add("etcd.prefix", &o->etcd_prefix, "etcd key prefix of the master election");
  set.Add("etcd.lease_ttl_s", &o->etcd_lease_ttl_s, "leader lease TTL (s)");
  set.Add("metrics_port", &o->metrics_port,
          "serve Prometheus text at http://metrics_address:PORT/metrics (-1 = off, 0 = ephemeral)");
  set.Add("metrics_address", &o->metrics_address, "interface of the /metrics HTTP endpoint");
  set.Add("metrics_port_file", &o->metrics_port_file,
          "write the bound /metrics port here once serving");
  set.Add(
      "cluster_token", &o->cluster_token,
      "shared secret every StoreMaster call must carry (empty = open; prefer KVC_CLUSTER_TOKEN)");
  set.Add("require_token", &o->require_token,
          "refuse to start without cluster_token (without it, an open master on a non-loopback "
          "address only logs a warning)");
  set.Add("takeover_grace_ms", &o->takeover_grace_ms,
          "after an etcd take-over, refuse PutStart (TAKEOVER_GRACE) for this long so late "
          "writes the old leader allowed cannot corrupt new objects (-1 = auto: "
          "max(store.put_timeout_ms, store.task_timeout_ms) with etcd, 0 without; without etcd "
          "an explicit value applies from start-up)");
}

namespace {

Status CheckWatermarks(const char* high_name, double high, const char* low_name, double low) {
  if (!(high > 0.0 && high <= 1.0)) {
    return absl::InvalidArgumentError(absl::StrCat(high_name, ": ", high, " is not in (0, 1]"));
  }
  if (!(low >= 0.0 && low < high)) {
    return absl::InvalidArgumentError(
        absl::StrCat(low_name, ": ", low, " must be >= 0 and below ", high_name, " (", high, ")"));
  }
  return Status();
}

}  // namespace

Status ValidateMasterPolicy(const MasterPolicyOptions& p) {
  if (p.max_replicas == 0 || p.default_replicas == 0 || p.default_replicas > p.max_replicas) {
    return absl::InvalidArgumentError(absl::StrCat("store.default_replicas: ", p.default_replicas,
                                                   " must be in 1..store.max_replicas (",
                                                   p.max_replicas, ")"));
  }
  if (p.max_object_bytes == 0) {
    return absl::InvalidArgumentError("store.max_object_bytes: must be > 0");
  }
  if (p.max_batch_keys == 0) return absl::InvalidArgumentError("store.max_batch_keys: must be > 0");
  if (p.heartbeat_interval_ms == 0 || p.node_timeout_ms <= p.heartbeat_interval_ms) {
    return absl::InvalidArgumentError(absl::StrCat("store.node_timeout_ms: ", p.node_timeout_ms,
                                                   " must exceed store.heartbeat_interval_ms (",
                                                   p.heartbeat_interval_ms, ", > 0)"));
  }
  if (p.node_suspect_ms != 0 &&
      (p.node_suspect_ms <= p.heartbeat_interval_ms || p.node_suspect_ms > p.node_timeout_ms)) {
    return absl::InvalidArgumentError(
        absl::StrCat("store.node_suspect_ms: ", p.node_suspect_ms,
                     " must exceed store.heartbeat_interval_ms (", p.heartbeat_interval_ms,
                     ") and not exceed store.node_timeout_ms (", p.node_timeout_ms, "); 0 = auto"));
  }
  if (p.put_timeout_ms == 0 || p.lease_ms == 0 || p.task_timeout_ms == 0) {
    return absl::InvalidArgumentError(
        "store.put_timeout_ms, store.lease_ms and store.task_timeout_ms must be > 0");
  }
  KVC_RETURN_IF_ERROR(CheckWatermarks("store.dram_high_watermark", p.dram_high_watermark,
                                      "store.dram_low_watermark", p.dram_low_watermark));
  KVC_RETURN_IF_ERROR(CheckWatermarks("store.ssd_high_watermark", p.ssd_high_watermark,
                                      "store.ssd_low_watermark", p.ssd_low_watermark));
  if (p.promote_after_reads > 0 && p.promote_window_ms == 0) {
    return absl::InvalidArgumentError(
        "store.promote_window_ms: must be > 0 when store.promote_after_reads is set");
  }
  if (p.eviction_scan_limit == 0) {
    return absl::InvalidArgumentError("store.eviction_scan_limit: must be > 0");
  }
  return Status();
}

Status ValidateMasterOptions(const MasterOptions& o) {
  KVC_RETURN_IF_ERROR(ValidateServerOptions(o.server));
  KVC_RETURN_IF_ERROR(ValidateMasterPolicy(o.policy));
  if (o.tick_ms == 0 || o.tick_ms > 10'000) {
    return absl::InvalidArgumentError(absl::StrCat("tick_ms: ", o.tick_ms, " is not in 1..10000"));
  }
  if (o.metrics_port < -1 || o.metrics_port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics_port: ", o.metrics_port, " is not in -1..65535 (-1 = off)"));
  }
  if (o.metrics_port >= 0 && o.metrics_address.empty()) {
    return absl::InvalidArgumentError("metrics_address: must not be empty with metrics_port set");
  }
  if (o.takeover_grace_ms < -1) {
    return absl::InvalidArgumentError(
        absl::StrCat("takeover_grace_ms: ", o.takeover_grace_ms, " must be >= 0, or -1 for auto"));
  }
  if (o.require_token && o.cluster_token.empty()) {
    return absl::InvalidArgumentError(
        "require_token: set, but no cluster_token is configured (--cluster-token or "
        "KVC_CLUSTER_TOKEN)");
  }
  if (o.membership_heartbeat_interval_ms == 0 ||
      o.membership_heartbeat_interval_ms >= o.membership_heartbeat_timeout_ms ||
      o.membership_heartbeat_timeout_ms > 600'000) {
    return absl::InvalidArgumentError(
        absl::StrCat("membership.heartbeat_interval_ms (", o.membership_heartbeat_interval_ms,
                     ") must be > 0 and below membership.heartbeat_timeout_ms (",
                     o.membership_heartbeat_timeout_ms, ", at most 600000)"));
  }
  if (!o.advertise_address.empty()) {
    KVC_RETURN_IF_ERROR(ValidateHostPort("advertise_address", o.advertise_address));
  }
  if (!o.etcd_endpoints.empty()) {
    KVC_RETURN_IF_ERROR(CheckAdvertisedAddress(
        "advertise_address", PublishedAddress(o.advertise_address, o.server.listen_address),
        HostPortsOfUrls(o.etcd_endpoints),
        "set --advertise-address to HOST:PORT of this master as the other hosts reach it"));
  }
  if (!o.etcd_endpoints.empty() && o.etcd_lease_ttl_s == 0) {
    return absl::InvalidArgumentError("etcd.lease_ttl_s: must be > 0 with etcd.endpoints set");
  }
  return Status();
}

uint32_t NodeSuspectMs(const MasterPolicyOptions& p) {
  if (p.node_suspect_ms != 0) return p.node_suspect_ms;
  return std::min<uint32_t>(p.heartbeat_interval_ms * 5 / 2, p.node_timeout_ms);
}

uint64_t TakeoverGraceMs(const MasterOptions& o) {
  if (o.takeover_grace_ms >= 0) return static_cast<uint64_t>(o.takeover_grace_ms);
  if (o.etcd_endpoints.empty()) return 0;
  return std::max(o.policy.put_timeout_ms, o.policy.task_timeout_ms);
}

Exposure MasterExposure(const MasterOptions& o) {
  return {{o.server.listen_address, o.metrics_port >= 0 ? o.metrics_address : ""},
          {{"cluster_token", o.cluster_token}},
          o.server.insecure};
}

bool IsLoopbackAddress(const std::string& host_port) {
  return IsLoopbackHost(HostOfAddress(host_port));
}

}  // namespace kvc

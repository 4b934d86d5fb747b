// Options of kvc-master, filled from YAML, KVC_* env vars and flags (see
// kvc/common/config.h and docs/configuration.md).
#pragma once

#include <cstdint>
#include <string>

#include "kvc/common/config.h"
#include "kvc/common/status.h"
#include "kvc/rpc/exposure.h"
#include "kvc/rpc/server.h"

namespace kvc {

// The policy of the master's metadata core: timeouts, leases, limits, eviction.
struct MasterPolicyOptions {
  uint32_t default_replicas = 1;            // replicas per object when a put asks for 0
  uint32_t max_replicas = 8;                // PutStart/ChangeReplica refuse more
  uint64_t max_object_bytes = 64ull << 20;  // largest value a put may store
  uint32_t max_batch_keys = 1'000'000;      // BatchGet/BatchExists/MatchPrefix key limit
  uint32_t heartbeat_interval_ms = 1000;    // how often nodes are told to heartbeat
  uint32_t node_timeout_ms = 5000;  // no heartbeat for this long: node dead, replicas dropped
  // No heartbeat for this long (or reported unreachable by a client since its
  // last heartbeat): the node is suspect, and a PutStart of a key whose every
  // replica is on suspect nodes replaces them instead of answering OBJECT_EXISTS.
  // 0 = auto: min(2.5 × heartbeat_interval_ms, node_timeout_ms).
  uint32_t node_suspect_ms = 0;
  uint32_t put_timeout_ms = 30000;    // PutStart without PutEnd/PutRevoke: reclaimed after this
  uint32_t lease_ms = 5000;           // read lease granted by Get: no eviction/removal meanwhile
  double dram_high_watermark = 0.90;  // DRAM segment usage that triggers eviction
  double dram_low_watermark = 0.75;   // eviction stops at this usage
  double ssd_high_watermark = 0.95;   // same for SSD segments
  double ssd_low_watermark = 0.85;
  uint32_t eviction_scan_limit = 4096;  // approximate LRU: oldest candidates looked at per pass
  uint32_t task_timeout_ms = 30000;     // a node task (demote/replicate) not acked is abandoned
  // Promotion: an SSD-only object read this many times within promote_window_ms is
  // copied back into its node's DRAM (a PROMOTE node task). 0 = never promote.
  uint32_t promote_after_reads = 3;
  uint32_t promote_window_ms = 10000;
};

struct MasterOptions {
  ServerOptions server;  // listen_address defaults to 127.0.0.1:50052
  MasterPolicyOptions policy;
  uint32_t tick_ms = 100;  // housekeeping period (dead nodes, abandoned puts, eviction)
  // etcd HA mode (empty = single in-memory master, the default).
  std::string etcd_endpoints;  // "http://127.0.0.1:2379[,...]"
  // etcd mode: the host:port the elected leader publishes in etcd for nodes and
  // clients to dial. "" = the bound address (a wildcard host published as
  // 127.0.0.1); refused when loopback while an etcd endpoint is on another host.
  std::string advertise_address;
  std::string etcd_prefix = "/kvc/master";  // key prefix of the election
  uint32_t etcd_lease_ttl_s = 3;            // leader lease TTL; a dead leader is replaced after it
  // Prometheus text at http://metrics_address:metrics_port/metrics (-1 = no HTTP
  // endpoint, the default; 0 = an ephemeral port, written to metrics_port_file).
  int32_t metrics_port = -1;
  std::string metrics_address = "127.0.0.1";
  std::string metrics_port_file;
  // Shared secret of the cluster: every StoreMaster RPC must carry it as
  // "authorization: Bearer" (UNAUTHENTICATED otherwise). "" = open (development only).
  std::string cluster_token;
  // Refuse to start without a cluster_token (production). Without it, a master
  // listening on a non-loopback address with no token logs a loud warning.
  bool require_token = false;
  // Take-over grace: after winning an etcd election from a predecessor, hand out
  // no DRAM range for this long (PutStart answers UNAVAILABLE "TAKEOVER_GRACE"),
  // so writes the predecessor allowed cannot land in a range handed out again.
  // -1 = auto: max(store.put_timeout_ms, store.task_timeout_ms) with etcd (the
  // longest the old leader itself would have kept such a range reserved), 0
  // without. Without etcd an explicit value applies from start-up (a restarted
  // master cannot tell a first start from a restart).
  int64_t takeover_grace_ms = -1;
  // Cluster membership (the NodeRegistry service every conductor reads): the
  // heartbeat period prefill/decode nodes are told, and the silence after which a
  // node is down (out of placement). Timeout must exceed the interval.
  uint32_t membership_heartbeat_interval_ms = 500;
  uint32_t membership_heartbeat_timeout_ms = 3000;
};

void BindMasterOptions(OptionSet& set, MasterOptions* options);
[[nodiscard]] Status ValidateMasterOptions(const MasterOptions& options);
// The gRPC and metrics listeners and the cluster token guarding them (kvc/rpc/exposure.h).
Exposure MasterExposure(const MasterOptions& options);
// The take-over grace in effect (see MasterOptions::takeover_grace_ms).
uint64_t TakeoverGraceMs(const MasterOptions& options);
// True when `host_port` ("host:port", "[v6]:port") binds a loopback interface only
// (127.0.0.0/8, ::1, localhost); false for wildcards (0.0.0.0, [::]) and others.
bool IsLoopbackAddress(const std::string& host_port);
[[nodiscard]] Status ValidateMasterPolicy(const MasterPolicyOptions& policy);
// store.node_suspect_ms in effect (see MasterPolicyOptions::node_suspect_ms).
uint32_t NodeSuspectMs(const MasterPolicyOptions& policy);

}  // namespace kvc

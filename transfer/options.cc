#include "absl/strings/str_cat.h"
#include "kvc/transfer/transfer_engine.h"
#include "transfer/internal/socket_util.h"

namespace kvc::transfer {

void BindTransferEngineOptions(OptionSet& set, TransferEngineOptions* o, const std::string& p) {
  set.Add(p + "segment_name", &o->segment_name, "segment name; empty = the bound TCP address");
  set.Add(p + "listen_address", &o->listen_address, "host:port of the TCP target; empty = none");
  set.Add(p + "cluster_token", &o->cluster_token, "shared secret peers present on connect");
  set.Add(p + "backend", &o->backend, "auto|tcp|shm|ucx|verbs");
  set.Add(p + "slice_bytes", &o->slice_bytes, "bytes per slice");
  set.Add(p + "shm_slice_bytes", &o->shm_slice_bytes, "bytes per slice on the intra-host path");
  set.Add(p + "tcp_connections_per_peer", &o->tcp_connections_per_peer, "TCP paths per peer");
  set.Add(p + "shm_threads_per_peer", &o->shm_threads_per_peer, "copy threads per intra-host peer");
  set.Add(p + "peer_timeout_ms", &o->peer_timeout_ms, "silence after which a peer is dead");
  set.Add(p + "max_attempts", &o->max_attempts, "attempts per slice, first included");
  set.Add(p + "path_down_ms", &o->path_down_ms, "how long a failed path is skipped");
  set.Add(p + "unregister_wait_ms", &o->unregister_wait_ms, "unregister waits this long");
  set.Add(p + "max_batch_capacity", &o->max_batch_capacity, "most entries per batch");
  set.Add(p + "max_peers", &o->max_peers, "most open peers (SIEVE eviction)");
  set.Add(p + "ucx_enable", &o->ucx_enable, "create a UCX context (needed for backend ucx)");
  set.Add(p + "topology_json", &o->topology_json, "topology matrix override (JSON)");
  set.Add(p + "shm_export_enable", &o->shm_export_enable,
          "let same-host peers map AllocateSharedMemory regions");
}

Status ValidateTransferEngineOptions(const TransferEngineOptions& o) {
  auto bad = [](const char* field, const std::string& why) {
    return absl::InvalidArgumentError(absl::StrCat("transfer.", field, ": ", why));
  };
  if (!o.listen_address.empty()) {
    std::string host;
    int port = 0;
    Status s = internal::ParseHostPort(o.listen_address, &host, &port);
    if (!s.ok()) return bad("listen_address", std::string(s.message()));
  }
  if (o.backend != "auto" && o.backend != "tcp" && o.backend != "shm" && o.backend != "ucx" &&
      o.backend != "verbs") {
    return bad("backend", "'" + o.backend + "' is not one of auto, tcp, shm, ucx, verbs");
  }
  if (o.slice_bytes < 4096 || o.slice_bytes > (64u << 20)) {
    return bad("slice_bytes", absl::StrCat(o.slice_bytes, " is outside 4096..67108864"));
  }
  if (o.shm_slice_bytes < 4096 || o.shm_slice_bytes > (64u << 20)) {
    return bad("shm_slice_bytes", absl::StrCat(o.shm_slice_bytes, " is outside 4096..67108864"));
  }
  if (o.tcp_connections_per_peer < 1 || o.tcp_connections_per_peer > 64) {
    return bad("tcp_connections_per_peer", "must be in 1..64");
  }
  if (o.shm_threads_per_peer < 1 || o.shm_threads_per_peer > 64) {
    return bad("shm_threads_per_peer", "must be in 1..64");
  }
  if (o.peer_timeout_ms < 10) return bad("peer_timeout_ms", "must be at least 10");
  if (o.max_attempts < 1) return bad("max_attempts", "must be at least 1");
  if (o.max_batch_capacity < 1) return bad("max_batch_capacity", "must be at least 1");
  if (o.max_peers < 1) return bad("max_peers", "must be at least 1");
  if (o.cluster_token.size() > 1024) return bad("cluster_token", "longer than 1024 bytes");
  return absl::OkStatus();
}

}  // namespace kvc::transfer

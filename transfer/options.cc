#include <arpa/inet.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "kvc/common/net_address.h"
#include "kvc/transfer/transfer_engine.h"
#include "transfer/internal/socket_util.h"

namespace kvc::transfer {

void BindTransferEngineOptions(OptionSet& set, TransferEngineOptions* o, const std::string& p) {
  set.Add(p + "segment_name", &o->segment_name, "segment name; empty = the bound TCP address");
  set.Add(p + "listen_address", &o->listen_address, "host:port of the TCP target; empty = none");
  set.Add(p + "advertise_address", &o->advertise_address,
          "host or host:port peers dial for the TCP target (IPv4); empty = the bound address, "
          "or the gRPC advertise host when listen_address is a wildcard");
  set.Add(p + "host_id", &o->host_id,
          "host identity deciding same-host (shm) peers; empty = the kernel boot id");
  set.Add(p + "cluster_token", &o->cluster_token, "shared secret peers present on connect");
  set.Add(p + "backend", &o->backend, "auto|tcp|shm|ucx|verbs");
  set.Add(p + "slice_bytes", &o->slice_bytes, "bytes per slice");
  set.Add(p + "shm_slice_bytes", &o->shm_slice_bytes, "bytes per slice on the intra-host path");
  set.Add(p + "tcp_connections_per_peer", &o->tcp_connections_per_peer, "TCP paths per peer");
  set.Add(p + "tcp_max_connections", &o->tcp_max_connections,
          "TCP target: most connections held at once (in their hello or served)");
  set.Add(p + "tcp_max_connections_per_peer", &o->tcp_max_connections_per_peer,
          "TCP target: most connections held at once from one peer IP address");
  set.Add(p + "tcp_handshake_timeout_ms", &o->tcp_handshake_timeout_ms,
          "TCP target: a connection that has not authenticated within this long is closed (ms)");
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

namespace {

bool IsIpv4(const std::string& host) {
  in_addr addr{};
  return inet_pton(AF_INET, host.c_str(), &addr) == 1;
}

// "host" or "host:port", host an IPv4 literal that is not a wildcard.
Status ValidateAdvertise(const std::string& value) {
  std::string host = value;
  const size_t colon = value.rfind(':');
  if (colon != std::string::npos) {
    host = value.substr(0, colon);
    uint32_t port = 0;
    if (!absl::SimpleAtoi(value.substr(colon + 1), &port) || port == 0 || port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("transfer.advertise_address: '", value, "' has no valid port (1..65535)"));
    }
  }
  if (!IsIpv4(host) || IsUnspecifiedHost(host)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "transfer.advertise_address: '", value,
        "' is not an IPv4 address peers can dial (the transfer engine dials IPv4 literals)"));
  }
  return absl::OkStatus();
}

}  // namespace

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
  if (!o.advertise_address.empty()) {
    KVC_RETURN_IF_ERROR(ValidateAdvertise(o.advertise_address));
  }
  if (o.host_id.size() > 255) return bad("host_id", "longer than 255 bytes");
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
  if (o.tcp_max_connections < 1 || o.tcp_max_connections > 65536) {
    return bad("tcp_max_connections", absl::StrCat(o.tcp_max_connections, " is not in 1..65536"));
  }
  if (o.tcp_max_connections_per_peer < 1 ||
      o.tcp_max_connections_per_peer > o.tcp_max_connections) {
    return bad("tcp_max_connections_per_peer",
               absl::StrCat(o.tcp_max_connections_per_peer, " is not in 1..tcp_max_connections (",
                            o.tcp_max_connections, ")"));
  }
  if (o.tcp_handshake_timeout_ms < 10 || o.tcp_handshake_timeout_ms > 600000) {
    return bad("tcp_handshake_timeout_ms",
               absl::StrCat(o.tcp_handshake_timeout_ms, " is not in 10..600000"));
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

std::string DefaultTransferAdvertise(const TransferEngineOptions& o,
                                     const std::string& rpc_advertise) {
  if (!o.advertise_address.empty()) return o.advertise_address;
  if (o.listen_address.empty() || !IsUnspecifiedHost(HostOfAddress(o.listen_address))) return "";
  const std::string host = HostOfAddress(rpc_advertise);
  return IsUnspecifiedHost(host) ? "" : host;
}

std::string PublishedTransferHost(const TransferEngineOptions& o) {
  if (o.listen_address.empty()) return "";
  std::string host =
      HostOfAddress(o.advertise_address.empty() ? o.listen_address : o.advertise_address);
  if (IsUnspecifiedHost(host) || host == "localhost") host = "127.0.0.1";
  return host;
}

Status CheckTransferAdvertise(const TransferEngineOptions& o,
                              const std::vector<std::string>& remotes) {
  const std::string host = PublishedTransferHost(o);
  if (host.empty()) return absl::OkStatus();
  const std::string origin =
      o.advertise_address.empty()
          ? absl::StrCat("published because transfer.listen_address is ", o.listen_address,
                         " and no advertise address is set; ")
          : "";
  return CheckAdvertisedAddress(
      "transfer.advertise_address", host, remotes,
      origin +
          "bind a reachable interface (--transfer-listen-address 0.0.0.0:PORT) and set "
          "--transfer-advertise-address (or --advertise-address) to this host's IP");
}

}  // namespace kvc::transfer

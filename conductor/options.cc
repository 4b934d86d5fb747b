#include "kvc/conductor/options.h"

#include "absl/strings/str_cat.h"

namespace kvc {

void BindConductorOptions(OptionSet& set, ConductorOptions* o) {
  BindServerOptions(set, &o->server, "127.0.0.1:50051");
  set.Add("http_address", &o->http_address, "interface of the OpenAI-compatible HTTP API");
  set.Add("http_port", &o->http_port, "HTTP port (0 = ephemeral)");
  set.Add("http_port_file", &o->http_port_file, "write the bound HTTP port here once serving");
  set.Add("http_io_threads", &o->http_io_threads, "event-loop threads of the HTTP server");
  set.Add("served_model", &o->served_model, "model id clients must name in requests");
  set.Add("api_keys", &o->api_keys, "accepted HTTP bearer keys (comma-separated); empty = open");
  set.Add("admin_token", &o->admin_token, "token required on Admin RPCs (empty = open)");
  set.Add("cluster_token", &o->cluster_token,
          "token required from nodes registering (empty = open)");
  set.Add("heartbeat_timeout_ms", &o->heartbeat_timeout_ms, "a node silent this long is down");
  set.Add("heartbeat_interval_ms", &o->heartbeat_interval_ms,
          "heartbeat period nodes are told to use");
  set.Add("ttft_slo_s", &o->ttft_slo_s, "time-to-first-token objective in seconds");
  set.Add("tbt_slo_s", &o->tbt_slo_s, "time-between-tokens objective in seconds");
}

Status ValidateConductorOptions(const ConductorOptions& o) {
  KVC_RETURN_IF_ERROR(ValidateServerOptions(o.server));
  if (o.http_port > 65535)
    return absl::InvalidArgumentError(absl::StrCat("http_port: ", o.http_port, " is over 65535"));
  if (o.http_io_threads < 1 || o.http_io_threads > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("http_io_threads: ", o.http_io_threads, " is not in 1..64"));
  }
  if (o.served_model.empty()) return absl::InvalidArgumentError("served_model: must not be empty");
  if (o.heartbeat_interval_ms == 0 || o.heartbeat_timeout_ms <= o.heartbeat_interval_ms) {
    return absl::InvalidArgumentError(absl::StrCat("heartbeat_timeout_ms: ", o.heartbeat_timeout_ms,
                                                   " must be larger than heartbeat_interval_ms (",
                                                   o.heartbeat_interval_ms, ") and both > 0"));
  }
  if (!(o.ttft_slo_s > 0))
    return absl::InvalidArgumentError(absl::StrCat("ttft_slo_s: ", o.ttft_slo_s, " must be > 0"));
  if (!(o.tbt_slo_s > 0))
    return absl::InvalidArgumentError(absl::StrCat("tbt_slo_s: ", o.tbt_slo_s, " must be > 0"));
  return Status();
}

}  // namespace kvc

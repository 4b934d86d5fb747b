#include "kvc/conductor/options.h"

#include <cmath>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "kvc/conductor/policy.h"

namespace kvc {

void BindConductorOptions(OptionSet& set, ConductorOptions* o) {
  BindServerOptions(set, &o->server, "127.0.0.1:50051");
  set.Add("http_address", &o->http_address, "interface of the OpenAI-compatible HTTP API");
  set.Add("http_port", &o->http_port, "HTTP port (0 = ephemeral)");
  set.Add("http_port_file", &o->http_port_file, "write the bound HTTP port here once serving");
  set.Add("http_io_threads", &o->http_io_threads, "event-loop threads of the HTTP server");
  set.Add("http_tls_cert_file", &o->http_tls_cert_file,
          "HTTPS for the OpenAI API: PEM certificate chain (empty = plain HTTP)");
  set.Add("http_tls_key_file", &o->http_tls_key_file, "HTTPS: PEM private key of the certificate");
  set.Add("http_max_connections", &o->http_max_connections,
          "open HTTP connections at most; one more gets 503 + Retry-After and is closed");
  set.Add("http_read_timeout_ms", &o->http_read_timeout_ms,
          "deadline to read one whole request (header and body; 408 after) and for an idle "
          "keep-alive connection (ms)");
  set.Add("max_waiting_requests", &o->max_waiting_requests,
          "requests before their first token at most; one more gets 429 QUEUE_FULL");
  set.Add("model", &o->model_dir,
          "model directory (tokenizer, config.json); empty = the built-in kvc-tiny");
  set.Add("chat_template", &o->chat_template,
          "Jinja chat template file overriding the model's own (tokenizer_config.json "
          "chat_template / chat_template.jinja); empty = the model's");
  set.Add("served_model", &o->served_model,
          "model id clients must name in requests; empty = the model's id (kvc-tiny, or the "
          "directory name)");
  set.Add("api_keys", &o->api_keys, "accepted HTTP bearer keys (comma-separated); empty = open");
  set.Add("admin_token", &o->admin_token, "token required on Admin RPCs (empty = open)");
  set.Add("cluster_token", &o->cluster_token,
          "token required from nodes registering (empty = open)");
  set.Add("membership_poll_ms", &o->membership_poll_ms,
          "period of the membership read from kvc-master (ms)");
  set.Add("heartbeat_timeout_ms", &o->heartbeat_timeout_ms,
          "without a master: a node silent this long is down");
  set.Add("heartbeat_interval_ms", &o->heartbeat_interval_ms,
          "without a master: heartbeat period nodes are told to use");
  set.Add("drain_timeout_ms", &o->drain_timeout_ms,
          "SIGTERM: how long running requests may take to finish before they are cancelled (ms)");
  set.Add("ttft_slo_s", &o->ttft_slo_s, "time-to-first-token objective in seconds");
  set.Add("tbt_slo_s", &o->tbt_slo_s, "time-between-tokens objective in seconds");
  set.Add("master_address", &o->master_address,
          "kvc-master gRPC address: prefix matching and cluster membership; empty = no KV pool, "
          "nodes register with this conductor");
  set.Add("etcd.endpoints", &o->etcd_endpoints,
          "etcd client URLs where the elected kvc-master is found (empty = master_address)");
  set.Add("etcd.prefix", &o->etcd_prefix, "etcd key prefix of the master election");
  set.Add("master_timeout_ms", &o->master_timeout_ms, "deadline of one MatchPrefix call");
  set.Add("block_tokens", &o->block_tokens,
          "tokens per KV block; nodes with another block size are refused");
  set.Add("policy", &o->policy, "prefill placement: random, load, local-cache, global-cache");
  set.Add("rejection_policy", &o->rejection_policy,
          "early rejection when objectives cannot be met: none, plain, predictive");
  set.Add("kvcache_balancing_threshold", &o->kvcache_balancing_threshold,
          "fetch the best remote prefix when it is longer than the node's own times this");
  set.Add("default_max_tokens", &o->default_max_tokens,
          "max_tokens of a request that sets none (0 = the rest of the context)");
  set.Add("rpc_timeout_ms", &o->rpc_timeout_ms, "deadline of Reserve and Cancel calls");
  set.Add("prefill_timeout_ms", &o->prefill_timeout_ms,
          "deadline of a Prefill call (queue + compute + KV transfer)");
  set.Add("request_timeout_ms", &o->request_timeout_ms, "deadline of a whole request");
  set.Add("stream_idle_timeout_ms", &o->stream_idle_timeout_ms,
          "a Decode stream that brings no token for this long is cancelled and the client gets "
          "a decode_stalled error (0 = off)");
  set.Add("retry_after_s", &o->retry_after_s, "Retry-After seconds on 429 and 503 answers");
  set.Add("kv_wait_ms", &o->kv_wait_ms,
          "a request no decode node has KV memory for waits this long before a 429 (0 = none)");
  set.Add("rpc_threads", &o->rpc_threads,
          "threads that tokenize, match prefixes and place requests");
  set.Add("prefill_tokens_per_s", &o->prefill_tokens_per_s,
          "assumed prefill speed of a node that has not reported one");
  set.Add("transfer_bytes_per_s", &o->transfer_bytes_per_s,
          "assumed node-to-node KV bandwidth (prefix fetch cost)");
  set.Add("decode_step_base_s", &o->decode_step_base_s, "predicted decode step of a batch of one");
  set.Add("decode_step_per_token_s", &o->decode_step_per_token_s,
          "predicted extra decode step time per token of batch KV");
}

Status ValidateConductorOptions(const ConductorOptions& o) {
  KVC_RETURN_IF_ERROR(ValidateServerOptions(o.server));
  if (o.http_port > 65535)
    return absl::InvalidArgumentError(absl::StrCat("http_port: ", o.http_port, " is over 65535"));
  if (o.http_tls_cert_file.empty() != o.http_tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        o.http_tls_cert_file.empty() ? "http_tls_cert_file: must be set with http_tls_key_file"
                                     : "http_tls_key_file: must be set with http_tls_cert_file");
  }
  if (o.http_io_threads < 1 || o.http_io_threads > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("http_io_threads: ", o.http_io_threads, " is not in 1..64"));
  }
  for (auto [name, v, lo, hi] : {std::tuple<const char*, uint32_t, uint32_t, uint32_t>{
                                     "http_max_connections", o.http_max_connections, 1, 1'000'000},
                                 {"http_read_timeout_ms", o.http_read_timeout_ms, 100, 3'600'000},
                                 {"max_waiting_requests", o.max_waiting_requests, 1, 1'000'000}}) {
    if (v < lo || v > hi) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": ", v, " is not in ", lo, "..", hi));
    }
  }
  if (o.block_tokens < 1 || o.block_tokens > 65536) {
    return absl::InvalidArgumentError(
        absl::StrCat("block_tokens: ", o.block_tokens, " is not in 1..65536"));
  }
  for (auto [name, v] : {std::pair<const char*, uint32_t>{"master_timeout_ms", o.master_timeout_ms},
                         {"rpc_timeout_ms", o.rpc_timeout_ms},
                         {"prefill_timeout_ms", o.prefill_timeout_ms},
                         {"request_timeout_ms", o.request_timeout_ms}}) {
    if (v == 0) return absl::InvalidArgumentError(absl::StrCat(name, ": must be > 0"));
  }
  if (o.stream_idle_timeout_ms > 3'600'000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "stream_idle_timeout_ms: ", o.stream_idle_timeout_ms, " is over 3600000 (0 = off)"));
  }
  if (o.rpc_threads < 1 || o.rpc_threads > 256) {
    return absl::InvalidArgumentError(
        absl::StrCat("rpc_threads: ", o.rpc_threads, " is not in 1..256"));
  }
  if (auto p = conductor::ParsePrefillPolicy(o.policy); !p.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("policy: ", p.status().message()));
  }
  if (auto p = conductor::ParseRejectionPolicy(o.rejection_policy); !p.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("rejection_policy: ", p.status().message()));
  }
  if (!(o.kvcache_balancing_threshold >= 1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kvcache_balancing_threshold: ", o.kvcache_balancing_threshold, " must be >= 1"));
  }
  for (auto [name, v] :
       {std::pair<const char*, double>{"prefill_tokens_per_s", o.prefill_tokens_per_s},
        {"transfer_bytes_per_s", o.transfer_bytes_per_s}}) {
    if (!(v > 0) || !std::isfinite(v)) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": ", v, " must be > 0"));
    }
  }
  if (!(o.decode_step_base_s >= 0) || !(o.decode_step_per_token_s >= 0)) {
    return absl::InvalidArgumentError("decode_step_base_s, decode_step_per_token_s: must be >= 0");
  }
  if (o.membership_poll_ms < 10 || o.membership_poll_ms > 60'000) {
    return absl::InvalidArgumentError(
        absl::StrCat("membership_poll_ms: ", o.membership_poll_ms, " is not in 10..60000"));
  }
  if (o.drain_timeout_ms > 3'600'000) {
    return absl::InvalidArgumentError(
        absl::StrCat("drain_timeout_ms: ", o.drain_timeout_ms, " is over 3600000"));
  }
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

Exposure ConductorExposure(const ConductorOptions& o) {
  return {{o.server.listen_address, o.http_address},
          {{"cluster_token", o.cluster_token}, {"admin_token", o.admin_token}},
          o.server.insecure};
}

}  // namespace kvc

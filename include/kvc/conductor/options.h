// Options of kvc-conductor, filled from YAML, KVC_* env vars and flags (see
// kvc/common/config.h and docs/configuration.md).
#pragma once

#include <string>
#include <vector>

#include "kvc/common/config.h"
#include "kvc/common/status.h"
#include "kvc/rpc/exposure.h"
#include "kvc/rpc/server.h"

namespace kvc {

struct ConductorOptions {
  ServerOptions server;                    // gRPC; listen_address defaults to 127.0.0.1:50051
  std::string http_address = "127.0.0.1";  // interface of the OpenAI-compatible HTTP API
  uint32_t http_port = 8000;               // 0 = ephemeral (written to http_port_file)
  std::string http_port_file;              // when set, the bound HTTP port is written here
  uint32_t http_io_threads = 2;            // event-loop threads of the HTTP server
  std::string http_tls_cert_file;          // HTTPS: PEM certificate chain ("" = plain HTTP)
  std::string http_tls_key_file;           // HTTPS: its private key
  std::string model_dir;                   // tokenizer + config; "" = built-in kvc-tiny
  std::string served_model;                // model id clients must name; "" = from the model
  std::string chat_template;          // Jinja template file overriding the model's; "" = its own
  std::vector<std::string> api_keys;  // accepted HTTP bearer keys; empty = open
  std::string admin_token;            // required on Admin RPCs when set
  std::string cluster_token;          // required on node registration/heartbeats when set
  // Membership: with a master (master_address or etcd) it lives there and this
  // conductor reads it every membership_poll_ms; without one, nodes register here
  // (in-memory, one conductor) with these heartbeat settings.
  uint32_t membership_poll_ms = 200;     // period of the membership read from the master
  uint32_t heartbeat_timeout_ms = 3000;  // no master: a node silent this long is down
  uint32_t heartbeat_interval_ms = 500;  // no master: what nodes are told to use
  // SIGTERM: new requests get 503 (health NOT_SERVING) while running ones get this
  // long to finish; then the rest are cancelled and the process exits 0.
  uint32_t drain_timeout_ms = 30000;
  double ttft_slo_s = 30.0;  // TTFT objective (paper: 30 s)
  double tbt_slo_s = 0.1;    // TBT objective (paper: 100-300 ms)

  // ---- generation pipeline ----
  std::string master_address = "127.0.0.1:50052";  // kvc-master (pool, membership); "" = none
  std::string etcd_endpoints;                      // etcd HA: the elected master is found there
  std::string etcd_prefix = "/kvc/master";         // key prefix of the master election
  uint32_t master_timeout_ms = 1000;               // deadline of one MatchPrefix call
  uint32_t block_tokens = 16;                      // KV block size of the cluster
  std::string policy = "global-cache";             // random | load | local-cache | global-cache
  std::string rejection_policy = "plain";          // none | plain | predictive
  double kvcache_balancing_threshold = 1.25;       // fetch a remote prefix above own * this
  uint32_t default_max_tokens = 256;        // when a request sets none (0 = rest of the context)
  uint32_t rpc_timeout_ms = 3000;           // Reserve / Cancel deadline
  uint32_t prefill_timeout_ms = 60000;      // Prefill deadline (includes the node's queue)
  uint32_t request_timeout_ms = 600000;     // whole request deadline (the Decode stream)
  uint32_t stream_idle_timeout_ms = 30000;  // no decode token this long: decode_stalled (0 = off)
  uint32_t retry_after_s = 1;               // Retry-After on 429 / 503
  uint32_t kv_wait_ms = 10000;              // wait for decode KV room before 429 (0 = none)
  uint32_t max_waiting_requests = 4096;     // before their first token; more get 429 QUEUE_FULL
  uint32_t http_max_connections = 10000;    // open HTTP connections; more get 503 and are closed
  uint32_t http_read_timeout_ms = 30000;    // one request's header+body, and keep-alive idle
  uint32_t rpc_threads = 4;                 // bounded pool: tokenize, MatchPrefix, placement
  // Cost model defaults, used until nodes report measured speeds.
  double prefill_tokens_per_s = 2000;     // prefill speed of a node that reported none
  double transfer_bytes_per_s = 1e9;      // node-to-node KV bandwidth
  double decode_step_base_s = 0.005;      // predicted decode step of a batch of one
  double decode_step_per_token_s = 1e-6;  // extra step time per token of batch KV
};

void BindConductorOptions(OptionSet& set, ConductorOptions* options);
[[nodiscard]] Status ValidateConductorOptions(const ConductorOptions& options);
// The gRPC and HTTP listeners and the cluster and admin tokens guarding them
// (kvc/rpc/exposure.h).
Exposure ConductorExposure(const ConductorOptions& options);

}  // namespace kvc

// kvc-sim's discrete-event cluster simulator: replays a trace on virtual time through
// the real scheduling policy library (kvc/conductor/policy.h) and the analytic cost
// model of the simulated backend (kvc/perfmodel). Deterministic for given inputs and
// seed. Pure computation (no I/O); thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "bench/trace/trace.h"
#include "kvc/common/status.h"
#include "kvc/conductor/policy.h"

namespace kvc::sim {

enum class Deployment {
  kDisaggregated,     // N prefill + M decode nodes, KV pool, policy library (default)
  kColocatedNone,     // N+M vLLM-like nodes: prefill interrupts decode, no prefix cache
  kColocatedPrefix,   // ... with a per-node prefix cache
  kColocatedChunked,  // ... with a per-node prefix cache and chunked prefill piggybacked on decode
};

// "disaggregated" plus the --colocated values "none" | "prefix" | "chunked".
[[nodiscard]] StatusOr<Deployment> ParseColocated(const std::string& name);
std::string DeploymentName(Deployment d);

struct SimOptions {
  Deployment deployment = Deployment::kDisaggregated;
  int prefill_nodes = 16;  // colocated deployments use prefill_nodes + decode_nodes nodes
  int decode_nodes = 16;
  conductor::PrefillPolicy policy = conductor::PrefillPolicy::kGlobalCache;
  conductor::RejectionPolicy rejection = conductor::RejectionPolicy::kNone;
  double kvcache_balancing_threshold = 1.25;  // see conductor::PolicyOptions
  bool global_pool = true;  // false: per-node caches only, nothing is fetched between nodes
  int64_t cache_tokens = 3'000'000;  // per-node DRAM cache (LRU) in tokens; < 0 unbounded
  double ttft_slo_s = 30;            // objectives (paper: TTFT 30 s, TBT 100/200/300 ms)
  double tbt_slo_s = 0.1;
  double rate_scale = 1;       // arrival times are divided by this (2 = twice the rate)
  int64_t chunk_tokens = 512;  // chunk size of the colocated chunked baseline
  std::string preset = "llama3-70b-a800x8";  // kvc::perfmodel preset of every node
  double nic_gbps = 0;           // per-node transfer bandwidth, Gbit/s (0 = the preset's)
  int64_t decode_kv_tokens = 0;  // per-node KV memory in tokens (0 = HBM left by weights)
  int64_t max_requests = 0;      // replay only the first N requests (0 = all)
  uint64_t seed = 1;             // random placement policy
};

// InvalidArgument naming the field (e.g. "--prefill must be >= 1").
[[nodiscard]] Status ValidateSimOptions(const SimOptions& options);

// What happened to one request.
struct RequestResult {
  int64_t index = 0;
  double arrival_s = 0;
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
  bool rejected = false;
  int prefill_node = -1;
  int decode_node = -1;
  int64_t prefix_tokens = 0;   // cached tokens reused (own or fetched)
  int64_t fetched_tokens = 0;  // of which fetched from another node
  double ttft_s = -1;          // first token (from prefill) minus arrival; -1 if rejected
  double tbt_s = 0;            // mean of the longest 10% inter-token gaps (0 if 1 token)
  double finish_s = -1;        // last token time
  int64_t generated_tokens = 0;
};

struct SimSummary {
  int64_t requests = 0, completed = 0, rejected = 0;
  double avg_ttft_s = 0, p50_ttft_s = 0, p90_ttft_s = 0, p99_ttft_s = 0;
  double avg_tbt_s = 0, p99_tbt_s = 0;
  double cache_hit_rate = 0;           // reused prefix tokens / input tokens of accepted requests
  double prefill_gpu_seconds = 0;      // prefill compute seconds x GPUs per node
  double effective_request_ratio = 0;  // requests meeting both objectives / all requests
  int64_t input_tokens = 0;            // of accepted requests
  int64_t output_tokens = 0;           // generated
  double makespan_s = 0;               // virtual time of the last event
  int64_t events = 0;                  // discrete events processed
};

struct SimResult {
  SimSummary summary;
  std::vector<RequestResult> requests;
};

// Runs the whole trace. InvalidArgument for bad options; the trace is already valid.
[[nodiscard]] StatusOr<SimResult> RunSimulation(const std::vector<trace::TraceRequest>& trace,
                                                const SimOptions& options);

// Recomputes the summary's SLO-dependent field for other objectives (no re-run).
double EffectiveRequestRatio(const std::vector<RequestResult>& requests, double ttft_slo_s,
                             double tbt_slo_s);

// TBT of one request from its inter-token gaps: mean of the longest ceil(10%) gaps.
double TbtFromGaps(std::vector<float> gaps);

}  // namespace kvc::sim

// KVCache-centric request placement (Mooncake paper §4, Algorithm 1): picks a prefill
// node and a decode node for a request from snapshots of node state, or rejects it
// early when the latency objectives cannot be met. No I/O, time from an injected
// Clock, randomness from a seeded generator: the simulator (bench/sim) and the live
// conductor drive the same code. Not thread-safe (the random policy keeps state);
// callers serialize Schedule().
#pragma once

#include <cstdint>
#include <limits>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "kvc/common/clock.h"
#include "kvc/common/status.h"
#include "kvc/conductor/cost_model.h"

namespace kvc::conductor {

enum class PrefillPolicy {
  kRandom,       // uniform over prefill nodes
  kLoad,         // least predicted queue time
  kLocalCache,   // min predicted TTFT counting only each node's own prefix match
  kGlobalCache,  // min predicted TTFT; a node may fetch the best remote prefix (Algorithm 1)
};
enum class RejectionPolicy {
  kNone,        // accept everything
  kPlain,       // reject when predicted TTFT or the decode node's current TBT misses the SLO
  kPredictive,  // like plain, but TBT predicted for the decode load when the KV arrives
};

// "random" | "load" | "local-cache" | "global-cache"; InvalidArgument otherwise.
[[nodiscard]] StatusOr<PrefillPolicy> ParsePrefillPolicy(const std::string& name);
std::string PrefillPolicyName(PrefillPolicy policy);
// "none" | "plain" | "predictive"; InvalidArgument otherwise.
[[nodiscard]] StatusOr<RejectionPolicy> ParseRejectionPolicy(const std::string& name);

struct PolicyOptions {
  PrefillPolicy prefill = PrefillPolicy::kGlobalCache;
  // A node fetches the best remote prefix only when best_match > own_match * threshold
  // (and fetching + computing is predicted faster than computing). Larger values
  // replicate hot blocks less eagerly; infinity disables fetching.
  double kvcache_balancing_threshold = 1.25;
  RejectionPolicy rejection = RejectionPolicy::kNone;
  double ttft_slo_s = std::numeric_limits<double>::infinity();  // objective on TTFT
  double tbt_slo_s = std::numeric_limits<double>::infinity();   // objective on TBT
  uint64_t seed = 1;                                            // for the random policy
};

// InvalidArgument naming the field when kvcache_balancing_threshold < 1 (or NaN) or an
// objective is not positive. Infinite objectives and threshold are valid.
[[nodiscard]] Status ValidatePolicyOptions(const PolicyOptions& options);

// What a prefill node looks like to the scheduler at decision time.
struct PrefillNodeState {
  int node = 0;               // caller's id, echoed in the plan
  double queue_seconds = 0;   // predicted wait before a new request would start here
  int64_t prefix_tokens = 0;  // tokens of this request's prefix cached on this node
};

// A request running on (context > 0, starts_in_s <= 0) or heading to a decode node.
struct DecodeJob {
  int64_t context_tokens = 0;    // KV tokens it holds (input + generated so far)
  int64_t remaining_tokens = 0;  // tokens still to generate
  double starts_in_s = 0;        // seconds until its KV arrives (<= 0: already decoding)
};

struct DecodeNodeState {
  int node = 0;
  int64_t kv_capacity_tokens = 0;  // KV memory of the node in tokens
  std::vector<DecodeJob> jobs;
};

struct ScheduleRequest {
  int64_t input_tokens = 0;
  int64_t output_tokens = 0;
};

struct PrefillPlan {
  int node = -1;
  int64_t prefix_tokens = 0;  // cached prefix the node will use (own or fetched)
  int fetch_from = -1;        // node to fetch the prefix from, -1 when none
  int64_t fetch_tokens = 0;   // tokens fetched from fetch_from
  double queue_s = 0, transfer_s = 0, prefill_s = 0;
  double ttft_s() const { return queue_s + transfer_s + prefill_s; }
};

struct DecodePlan {
  int node = -1;
  double predicted_tbt_s = 0;  // predicted step time with this request added
  bool fits = false;           // the node has KV memory for the whole request
};

struct Decision {
  bool accepted = false;
  std::string reject_reason;  // "" when accepted, else what missed which objective
  PrefillPlan prefill;
  DecodePlan decode;
  Clock::TimePoint decided_at;
};

class Scheduler {
 public:
  // `clock` must outlive the scheduler.
  Scheduler(PolicyOptions options, CostModel cost, const Clock& clock);

  // Plans prefill and decode for `request`. InvalidArgument when there is no prefill
  // node, or no decode node while `decode` is required (pass an empty span to plan
  // prefill only, as colocated clusters do). A rejection is an OK Decision with
  // accepted == false.
  [[nodiscard]] StatusOr<Decision> Schedule(const ScheduleRequest& request,
                                            std::span<const PrefillNodeState> prefill,
                                            std::span<const DecodeNodeState> decode);

  // The parts of Schedule, exposed for tests. REQUIRES: non-empty spans.
  PrefillPlan PlacePrefill(const ScheduleRequest& request, std::span<const PrefillNodeState> nodes);
  // Decode node with the lowest predicted TBT among those with room; with
  // `at_seconds` >= 0 the load is predicted at that time ahead (predictive), else the
  // current load is used.
  DecodePlan SelectDecode(const ScheduleRequest& request, std::span<const DecodeNodeState> nodes,
                          double at_seconds) const;

  const PolicyOptions& options() const { return options_; }
  const CostModel& cost() const { return cost_; }

 private:
  PrefillPlan PlanOn(const ScheduleRequest& request, const PrefillNodeState& node,
                     const PrefillNodeState* best_holder) const;

  const PolicyOptions options_;
  const CostModel cost_;
  const Clock& clock_;
  std::mt19937_64 rng_;
};

}  // namespace kvc::conductor

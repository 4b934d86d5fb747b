#include "kvc/conductor/policy.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kvc::conductor {

StatusOr<PrefillPolicy> ParsePrefillPolicy(const std::string& name) {
  if (name == "random") return PrefillPolicy::kRandom;
  if (name == "load") return PrefillPolicy::kLoad;
  if (name == "local-cache") return PrefillPolicy::kLocalCache;
  if (name == "global-cache") return PrefillPolicy::kGlobalCache;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown policy '", name, "'; use random, load, local-cache or global-cache"));
}

std::string PrefillPolicyName(PrefillPolicy policy) {
  switch (policy) {
    case PrefillPolicy::kRandom:
      return "random";
    case PrefillPolicy::kLoad:
      return "load";
    case PrefillPolicy::kLocalCache:
      return "local-cache";
    case PrefillPolicy::kGlobalCache:
      return "global-cache";
  }
  return "?";
}

StatusOr<RejectionPolicy> ParseRejectionPolicy(const std::string& name) {
  if (name == "none") return RejectionPolicy::kNone;
  if (name == "plain") return RejectionPolicy::kPlain;
  if (name == "predictive") return RejectionPolicy::kPredictive;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown rejection policy '", name, "'; use none, plain or predictive"));
}

Status ValidatePolicyOptions(const PolicyOptions& options) {
  if (!(options.kvcache_balancing_threshold >= 1)) {
    return absl::InvalidArgumentError(absl::StrCat("kvcache_balancing_threshold must be >= 1, got ",
                                                   options.kvcache_balancing_threshold));
  }
  if (!(options.ttft_slo_s > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("ttft_slo_s must be > 0 seconds, got ", options.ttft_slo_s));
  }
  if (!(options.tbt_slo_s > 0)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tbt_slo_s must be > 0 seconds, got ", options.tbt_slo_s));
  }
  return Status();
}

Scheduler::Scheduler(PolicyOptions options, CostModel cost, const Clock& clock)
    : options_(options), cost_(std::move(cost)), clock_(clock), rng_(options.seed) {}

PrefillPlan Scheduler::PlanOn(const ScheduleRequest& request, const PrefillNodeState& node,
                              const PrefillNodeState* best_holder) const {
  PrefillPlan plan;
  plan.node = node.node;
  plan.prefix_tokens = std::clamp<int64_t>(node.prefix_tokens, 0, request.input_tokens);
  plan.queue_s = node.queue_seconds;
  plan.prefill_s = cost_.PrefillSeconds(request.input_tokens, plan.prefix_tokens);
  if (best_holder == nullptr || best_holder->node == node.node) return plan;
  const int64_t best = std::min(best_holder->prefix_tokens, request.input_tokens);
  // An infinite threshold disables fetching (0 * inf would be NaN, so test it first).
  const double threshold = options_.kvcache_balancing_threshold;
  if (!std::isfinite(threshold) || best <= plan.prefix_tokens * threshold) return plan;
  // Algorithm 1: the node's own match is short; fetch the best remote prefix when moving
  // the missing blocks is cheaper than recomputing them.
  const double transfer_s = cost_.TransferSeconds(best - plan.prefix_tokens);
  const double prefill_s = cost_.PrefillSeconds(request.input_tokens, best);
  if (transfer_s + prefill_s >= plan.prefill_s) return plan;
  plan.fetch_from = best_holder->node;
  plan.fetch_tokens = best - plan.prefix_tokens;
  plan.prefix_tokens = best;
  plan.transfer_s = transfer_s;
  plan.prefill_s = prefill_s;
  return plan;
}

PrefillPlan Scheduler::PlacePrefill(const ScheduleRequest& request,
                                    std::span<const PrefillNodeState> nodes) {
  if (options_.prefill == PrefillPolicy::kRandom) {
    std::uniform_int_distribution<size_t> pick(0, nodes.size() - 1);
    return PlanOn(request, nodes[pick(rng_)], nullptr);
  }
  if (options_.prefill == PrefillPolicy::kLoad) {
    auto least = std::min_element(nodes.begin(), nodes.end(), [](const auto& a, const auto& b) {
      return a.queue_seconds < b.queue_seconds;
    });
    return PlanOn(request, *least, nullptr);
  }
  const PrefillNodeState* holder = nullptr;
  if (options_.prefill == PrefillPolicy::kGlobalCache) {
    holder = &*std::max_element(nodes.begin(), nodes.end(), [](const auto& a, const auto& b) {
      return a.prefix_tokens < b.prefix_tokens;
    });
  }
  PrefillPlan best;
  for (const PrefillNodeState& node : nodes) {
    PrefillPlan plan = PlanOn(request, node, holder);
    if (best.node < 0 || plan.ttft_s() < best.ttft_s()) best = plan;
  }
  return best;
}

DecodePlan Scheduler::SelectDecode(const ScheduleRequest& request,
                                   std::span<const DecodeNodeState> nodes,
                                   double at_seconds) const {
  DecodePlan best;
  for (const DecodeNodeState& node : nodes) {
    int64_t all_context = 0;
    for (const DecodeJob& j : node.jobs) all_context += j.context_tokens;
    const double step_now =
        cost_.DecodeStepSeconds(static_cast<int64_t>(node.jobs.size()), all_context);
    int64_t batch = 1, context = request.input_tokens, reserved = 0;
    for (const DecodeJob& j : node.jobs) {
      const bool alive = at_seconds < 0
                             ? j.starts_in_s <= 0
                             : j.starts_in_s <= at_seconds &&
                                   j.starts_in_s + j.remaining_tokens * step_now > at_seconds;
      if (alive) {
        ++batch;
        context += j.context_tokens;
      }
      if (alive || at_seconds < 0) reserved += j.context_tokens + j.remaining_tokens;
    }
    DecodePlan plan;
    plan.node = node.node;
    plan.predicted_tbt_s = cost_.DecodeStepSeconds(batch, context);
    plan.fits = reserved + request.input_tokens + request.output_tokens <= node.kv_capacity_tokens;
    const bool better = best.node < 0 || (plan.fits && !best.fits) ||
                        (plan.fits == best.fits && plan.predicted_tbt_s < best.predicted_tbt_s);
    if (better) best = plan;
  }
  return best;
}

StatusOr<Decision> Scheduler::Schedule(const ScheduleRequest& request,
                                       std::span<const PrefillNodeState> prefill,
                                       std::span<const DecodeNodeState> decode) {
  if (prefill.empty()) return absl::InvalidArgumentError("no prefill node to schedule on");
  if (request.input_tokens <= 0 || request.output_tokens <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("request needs input and output tokens > 0, got ", request.input_tokens,
                     " and ", request.output_tokens));
  }
  Decision d;
  d.decided_at = clock_.Now();
  d.prefill = PlacePrefill(request, prefill);
  if (!decode.empty()) {
    const bool predictive = options_.rejection == RejectionPolicy::kPredictive;
    d.decode = SelectDecode(request, decode, predictive ? d.prefill.ttft_s() : -1.0);
  }
  d.accepted = true;
  if (options_.rejection == RejectionPolicy::kNone) return d;
  if (d.prefill.ttft_s() > options_.ttft_slo_s) {
    d.reject_reason = absl::StrFormat("predicted TTFT %.3f s exceeds the TTFT objective %.3f s",
                                      d.prefill.ttft_s(), options_.ttft_slo_s);
  } else if (!decode.empty() && !d.decode.fits) {
    d.reject_reason = absl::StrCat("no decode node has KV memory for ",
                                   request.input_tokens + request.output_tokens, " tokens");
  } else if (!decode.empty() && d.decode.predicted_tbt_s > options_.tbt_slo_s) {
    d.reject_reason = absl::StrFormat("predicted TBT %.4f s exceeds the TBT objective %.4f s",
                                      d.decode.predicted_tbt_s, options_.tbt_slo_s);
  }
  d.accepted = d.reject_reason.empty();
  return d;
}

}  // namespace kvc::conductor

#include "bench/sim/simulator.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "bench/sim/internal/sim_core.h"

namespace kvc::sim {
namespace {

double Percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  // Nearest rank: the smallest value with at least q of the values at or below it.
  const size_t rank = static_cast<size_t>(std::ceil(q * values.size()));
  return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
}

double Mean(const std::vector<double>& values) {
  if (values.empty()) return 0;
  double sum = 0;
  for (double v : values) sum += v;
  return sum / values.size();
}

void Summarize(const SimOptions& options, SimResult& result) {
  SimSummary& s = result.summary;
  std::vector<double> ttft, tbt;
  double hit = 0, input = 0;
  for (const RequestResult& r : result.requests) {
    ++s.requests;
    s.output_tokens += r.generated_tokens;
    if (r.rejected) {
      ++s.rejected;
      continue;
    }
    hit += r.prefix_tokens;
    input += r.input_tokens;
    s.input_tokens += r.input_tokens;
    if (r.finish_s < 0) continue;
    ++s.completed;
    ttft.push_back(r.ttft_s);
    tbt.push_back(r.tbt_s);
  }
  s.avg_ttft_s = Mean(ttft);
  s.p50_ttft_s = Percentile(ttft, 0.50);
  s.p90_ttft_s = Percentile(ttft, 0.90);
  s.p99_ttft_s = Percentile(ttft, 0.99);
  s.avg_tbt_s = Mean(tbt);
  s.p99_tbt_s = Percentile(tbt, 0.99);
  s.cache_hit_rate = input > 0 ? hit / input : 0;
  s.effective_request_ratio =
      EffectiveRequestRatio(result.requests, options.ttft_slo_s, options.tbt_slo_s);
}

}  // namespace

StatusOr<Deployment> ParseColocated(const std::string& name) {
  if (name == "disaggregated") return Deployment::kDisaggregated;
  if (name == "none") return Deployment::kColocatedNone;
  if (name == "prefix") return Deployment::kColocatedPrefix;
  if (name == "chunked") return Deployment::kColocatedChunked;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown --colocated mode '", name, "'; use none, prefix or chunked"));
}

std::string DeploymentName(Deployment d) {
  switch (d) {
    case Deployment::kDisaggregated:
      return "disaggregated";
    case Deployment::kColocatedNone:
      return "colocated-none";
    case Deployment::kColocatedPrefix:
      return "colocated-prefix";
    case Deployment::kColocatedChunked:
      return "colocated-chunked";
  }
  return "?";
}

Status ValidateSimOptions(const SimOptions& o) {
  if (o.prefill_nodes < 1) return absl::InvalidArgumentError("--prefill must be >= 1");
  if (o.decode_nodes < 1) return absl::InvalidArgumentError("--decode must be >= 1");
  if (!(o.rate_scale > 0) || !std::isfinite(o.rate_scale)) {
    return absl::InvalidArgumentError(absl::StrCat("--rate-scale must be > 0, got ", o.rate_scale));
  }
  if (!(o.ttft_slo_s > 0) || !(o.tbt_slo_s > 0)) {
    return absl::InvalidArgumentError("--ttft-slo and --tbt-slo must be > 0 seconds");
  }
  if (o.chunk_tokens < 1) return absl::InvalidArgumentError("--chunk-tokens must be >= 1");
  if (!(o.kvcache_balancing_threshold >= 1)) {
    return absl::InvalidArgumentError("--balancing-threshold must be >= 1");
  }
  if (o.max_requests < 0) return absl::InvalidArgumentError("--max-requests must be >= 0");
  if (!(o.nic_gbps >= 0)) return absl::InvalidArgumentError("--nic-gbps must be >= 0");
  if (o.decode_kv_tokens < 0) return absl::InvalidArgumentError("--decode-kv-tokens must be >= 0");
  KVC_ASSIGN_OR_RETURN(perfmodel::PerfSpec spec, perfmodel::PresetSpec(o.preset));
  return perfmodel::ValidateSpec(spec);
}

StatusOr<SimResult> RunSimulation(const std::vector<trace::TraceRequest>& trace,
                                  const SimOptions& options) {
  KVC_RETURN_IF_ERROR(ValidateSimOptions(options));
  KVC_ASSIGN_OR_RETURN(perfmodel::PerfSpec spec, perfmodel::PresetSpec(options.preset));
  if (options.nic_gbps > 0) spec.node.nic_bytes_per_s = options.nic_gbps * 1e9 / 8;
  conductor::PolicyOptions policy;
  policy.prefill = options.policy;
  policy.rejection = options.rejection;
  policy.ttft_slo_s = options.ttft_slo_s;
  policy.tbt_slo_s = options.tbt_slo_s;
  policy.seed = options.seed;
  policy.kvcache_balancing_threshold = options.kvcache_balancing_threshold;
  // Without a global pool (and in colocated baselines) no node fetches from another.
  if (!options.global_pool || options.deployment != Deployment::kDisaggregated) {
    policy.kvcache_balancing_threshold = std::numeric_limits<double>::infinity();
  }
  internal::SimCore core(trace, options, perfmodel::PerfModel(spec), policy);
  if (options.deployment == Deployment::kDisaggregated) {
    internal::RunDisaggregated(core);
  } else {
    internal::RunColocated(core);
  }
  SimResult result = core.TakeResult();
  Summarize(options, result);
  return result;
}

double EffectiveRequestRatio(const std::vector<RequestResult>& requests, double ttft_slo_s,
                             double tbt_slo_s) {
  if (requests.empty()) return 0;
  int64_t effective = 0;
  for (const RequestResult& r : requests) {
    if (!r.rejected && r.finish_s >= 0 && r.ttft_s <= ttft_slo_s && r.tbt_s <= tbt_slo_s) {
      ++effective;
    }
  }
  return static_cast<double>(effective) / requests.size();
}

double TbtFromGaps(std::vector<float> gaps) {
  if (gaps.empty()) return 0;
  const size_t k = static_cast<size_t>(std::ceil(0.1 * gaps.size()));
  std::nth_element(gaps.begin(), gaps.begin() + (k - 1), gaps.end(), std::greater<float>());
  double sum = 0;
  for (size_t j = 0; j < k; ++j) sum += gaps[j];
  return sum / k;
}

}  // namespace kvc::sim

#include "kvc/engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace kvc::engine {

Status ValidateSamplingOptions(const SamplingOptions& o) {
  if (!(o.temperature >= 0)) return absl::InvalidArgumentError("temperature must be >= 0");
  if (o.top_k < 0) return absl::InvalidArgumentError("top_k must be >= 0");
  if (!(o.top_p > 0 && o.top_p <= 1)) return absl::InvalidArgumentError("top_p must be in (0, 1]");
  if (o.max_tokens < 1) return absl::InvalidArgumentError("max_tokens must be >= 1");
  return absl::OkStatus();
}

int32_t ArgMax(std::span<const float> logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

void Sampler::SkipSample() {
  if (options_.temperature > 0) rng_.discard(1);  // Sample() draws once when not greedy
}

int32_t Sampler::Sample(std::span<const float> logits) {
  if (options_.temperature <= 0) return ArgMax(logits);
  // Candidates sorted by logit (descending, ties by id) so the result is reproducible.
  std::vector<int32_t> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  auto by_logit = [&](int32_t a, int32_t b) {
    return logits[a] != logits[b] ? logits[a] > logits[b] : a < b;
  };
  size_t keep = ids.size();
  if (options_.top_k > 0) keep = std::min(keep, static_cast<size_t>(options_.top_k));
  std::partial_sort(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(keep), ids.end(),
                    by_logit);
  ids.resize(keep);
  std::vector<double> probs(keep);
  const double max_logit = logits[ids[0]];
  double sum = 0;
  for (size_t i = 0; i < keep; ++i) {
    probs[i] = std::exp((logits[ids[i]] - max_logit) / options_.temperature);
    sum += probs[i];
  }
  if (options_.top_p < 1.0) {
    double mass = 0;
    size_t cut = keep;
    for (size_t i = 0; i < keep; ++i) {
      mass += probs[i] / sum;
      if (mass >= options_.top_p) {
        cut = i + 1;
        break;
      }
    }
    probs.resize(cut);
    ids.resize(cut);
    sum = std::accumulate(probs.begin(), probs.end(), 0.0);
  }
  // Inverse-CDF draw from a 53-bit uniform: identical across platforms for one seed.
  const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53 * sum;
  double acc = 0;
  for (size_t i = 0; i < probs.size(); ++i) {
    acc += probs[i];
    if (u < acc) return ids[i];
  }
  return ids.back();
}

}  // namespace kvc::engine

// Token sampling from logits: greedy, temperature, top-k, top-p, with a seeded RNG so
// the same seed gives the same tokens. Not thread-safe (one per request).
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "kvc/common/status.h"

namespace kvc::engine {

struct SamplingOptions {
  double temperature = 0.0;               // 0 = greedy (argmax, lowest id on ties)
  int64_t top_k = 0;                      // keep the k most likely tokens; 0 = all
  double top_p = 1.0;                     // keep the smallest set whose probability reaches top_p
  uint64_t seed = 0;                      // RNG seed; same seed and logits -> same tokens
  int64_t max_tokens = 16;                // generated tokens at most
  std::vector<int32_t> stop_token_ids;    // generation ends after emitting one (not in text)
  std::vector<std::string> stop_strings;  // generation ends when the text contains one (cut off)
  bool ignore_eos = false;                // don't stop at the model's EOS ids
};

// Checks ranges (temperature >= 0, top_k >= 0, 0 < top_p <= 1, max_tokens >= 1);
// the message names the field.
[[nodiscard]] Status ValidateSamplingOptions(const SamplingOptions& options);

class Sampler {
 public:
  explicit Sampler(const SamplingOptions& options) : options_(options), rng_(options.seed) {}
  // The next token id. REQUIRES: logits non-empty.
  int32_t Sample(std::span<const float> logits);
  // Advances the RNG exactly as one Sample() call would, without logits: continues a
  // seeded sequence whose earlier tokens were sampled elsewhere (the decode node skips
  // the draw the prefill node made for the first token).
  void SkipSample();

 private:
  SamplingOptions options_;
  std::mt19937_64 rng_;
};

// Index of the largest value (the lowest index on ties).
int32_t ArgMax(std::span<const float> logits);

}  // namespace kvc::engine

// TokenStream: one decoding request's sampling and stop logic, continuing a
// generation whose first token was sampled by the prefill node. Equivalent to
// engine::RequestStream after it produced `first_token` (same Sampler sequence:
// the first draw is skipped, so seeded sampling equals single-node generation).
// Stop strings are not handled here: the conductor detokenizes and cancels.
//
// Not thread-safe (owned by the engine thread once the request runs).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "kvc/common/status.h"
#include "kvc/engine/sampler.h"
#include "kvc/v1/common.pb.h"

namespace kvc::decode::internal {

// kvc.v1.SamplingParams → engine options. top_p 0 means disabled (1.0); max_tokens 0
// means `default_max_tokens`. The seed is `seed` as sent (the conductor picks one when
// the user gave none, so prefill and decode share it). INVALID_ARGUMENT, reason
// BAD_SAMPLING, naming the field when a value is out of range.
[[nodiscard]] StatusOr<engine::SamplingOptions> ToSamplingOptions(const v1::SamplingParams& params,
                                                                  uint32_t default_max_tokens);

class TokenStream {
 public:
  // `first_token` was already generated elsewhere and counts towards max_tokens;
  // when it ends the request (stop id, EOS unless ignore_eos, or max_tokens == 1)
  // the stream starts finished.
  TokenStream(const engine::SamplingOptions& options, std::vector<int64_t> eos_ids,
              int32_t first_token);

  // Samples the next token from `logits`, records it and returns it.
  // REQUIRES: !finished().
  int32_t Next(std::span<const float> logits);
  // Ends the stream with "length" (e.g. the model context is full).
  void FinishLength() { finish_reason_ = "length"; }

  bool finished() const { return !finish_reason_.empty(); }
  // "stop" or "length"; empty while running.
  const std::string& finish_reason() const { return finish_reason_; }
  // Tokens generated so far, the first one included.
  int64_t generated() const { return generated_; }

 private:
  void Record(int32_t id);

  engine::SamplingOptions options_;
  engine::Sampler sampler_;
  std::vector<int64_t> eos_ids_;
  int64_t generated_ = 0;
  std::string finish_reason_;
};

}  // namespace kvc::decode::internal

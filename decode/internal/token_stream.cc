#include "decode/internal/token_stream.h"

#include <algorithm>
#include <cmath>

#include "kvc/common/reason.h"

namespace kvc::decode::internal {

StatusOr<engine::SamplingOptions> ToSamplingOptions(const v1::SamplingParams& p,
                                                    uint32_t default_max_tokens) {
  engine::SamplingOptions o;
  o.temperature = p.temperature();
  o.top_p = p.top_p() == 0 ? 1.0 : p.top_p();
  o.top_k = p.top_k();
  o.seed = p.seed();
  o.max_tokens = p.max_tokens() == 0 ? default_max_tokens : p.max_tokens();
  o.stop_token_ids.assign(p.stop_token_ids().begin(), p.stop_token_ids().end());
  o.ignore_eos = p.ignore_eos();
  Status s = std::isfinite(o.temperature)
                 ? engine::ValidateSamplingOptions(o)
                 : absl::InvalidArgumentError("temperature must be finite");
  if (!s.ok()) {
    return WithReason(absl::InvalidArgumentError("sampling: " + std::string(s.message())),
                      Reason::kBadSampling);
  }
  return o;
}

TokenStream::TokenStream(const engine::SamplingOptions& options, std::vector<int64_t> eos_ids,
                         int32_t first_token)
    : options_(options), sampler_(options), eos_ids_(std::move(eos_ids)) {
  sampler_.SkipSample();  // the prefill node drew the first token from the same seed
  Record(first_token);
}

int32_t TokenStream::Next(std::span<const float> logits) {
  const int32_t id = sampler_.Sample(logits);
  Record(id);
  return id;
}

// The same order of checks as engine::RequestStream: a stop id wins over the length.
void TokenStream::Record(int32_t id) {
  ++generated_;
  const auto& stops = options_.stop_token_ids;
  const bool stop_id =
      std::count(stops.begin(), stops.end(), id) > 0 ||
      (!options_.ignore_eos && std::count(eos_ids_.begin(), eos_ids_.end(), id) > 0);
  if (stop_id) {
    finish_reason_ = "stop";
  } else if (generated_ >= options_.max_tokens) {
    finish_reason_ = "length";
  }
}

}  // namespace kvc::decode::internal

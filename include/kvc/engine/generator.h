// Generation loops on top of an Engine: prefill, then decode in a continuous batch,
// sampling and stopping per request (stop ids, EOS, stop strings, max_tokens) with
// streaming detokenization. Used by kvc-model and tests; the decode role reuses
// RequestStream for its own batching loop.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kvc/engine/engine.h"
#include "kvc/engine/sampler.h"
#include "kvc/tokenizer/incremental_detokenizer.h"
#include "kvc/tokenizer/tokenizer.h"

namespace kvc::engine {

// One request's sampling and stop logic. Not thread-safe.
class RequestStream {
 public:
  // `tokenizer` may be null (then stop_strings are ignored and text stays empty);
  // `eos_ids` end generation unless options.ignore_eos.
  RequestStream(const SamplingOptions& options, const tokenizer::Tokenizer* tokenizer,
                std::vector<int64_t> eos_ids);

  // Samples the next token from `logits` and records it. Returns the token.
  int32_t Next(std::span<const float> logits);
  bool finished() const { return finish_reason_.has_value(); }
  // "stop" (stop id, EOS or stop string) or "length"; empty while running.
  std::string finish_reason() const { return finish_reason_.value_or(""); }
  const std::vector<int32_t>& token_ids() const { return ids_; }
  // Generated text so far, cut before a matched stop string; stop ids add no text.
  const std::string& text() const { return text_; }

 private:
  SamplingOptions options_;
  Sampler sampler_;
  const tokenizer::Tokenizer* tokenizer_;
  std::vector<int64_t> eos_ids_;
  std::unique_ptr<tokenizer::IncrementalDetokenizer> detok_;
  std::vector<int32_t> ids_;
  std::string text_;
  std::optional<std::string> finish_reason_;
};

struct GenerateResult {
  std::vector<int32_t> token_ids;  // generated ids (including a final stop id)
  std::string text;
  std::string finish_reason;
  int64_t prompt_tokens = 0;
  double prefill_seconds = 0;  // wall time of the prefill
  double decode_seconds = 0;   // wall time of all decode steps
};

// Generates for each prompt: prefills them one by one, then decodes them together
// in one continuous batch (a request leaves the batch when it finishes). Frees all
// KV blocks before returning. `tokenizer` may be null.
[[nodiscard]] StatusOr<std::vector<GenerateResult>> GenerateBatch(
    Engine& engine, const tokenizer::Tokenizer* tokenizer,
    const std::vector<std::vector<int32_t>>& prompts, const SamplingOptions& options,
    int64_t prefill_chunk = 0);

// GenerateBatch of one prompt.
[[nodiscard]] StatusOr<GenerateResult> Generate(Engine& engine,
                                                const tokenizer::Tokenizer* tokenizer,
                                                const std::vector<int32_t>& prompt,
                                                const SamplingOptions& options,
                                                int64_t prefill_chunk = 0);

}  // namespace kvc::engine

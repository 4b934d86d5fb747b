// Checks of a PrefillRequest that need no engine work, and the mapping of its
// sampling parameters onto the engine's sampler. Pure functions, thread-safe.
#pragma once

#include <string>

#include "kvc/common/status.h"
#include "kvc/engine/kv_cache.h"
#include "kvc/engine/model_config.h"
#include "kvc/engine/sampler.h"
#include "kvc/v1/prefill.pb.h"

namespace kvc::prefill::internal {

// Validates `request` against the model and the KV geometry. INVALID_ARGUMENT with
// a reason: MISSING_REQUEST_ID, EMPTY_PROMPT, TOKEN_OUT_OF_VOCAB, PROMPT_TOO_LONG
// (over the model context or over the whole KV cache), MODEL_MISMATCH (model_id
// set and not `served_model_id`), KV_LAYOUT_MISMATCH (decode_kv count !=
// ceil(tokens / block_tokens) or a length != block_bytes), BAD_PREFIX (more prefix
// blocks than full blocks, or keys that are not the prompt's chained keys),
// BAD_SAMPLING.
[[nodiscard]] Status CheckPrefillRequest(const v1::PrefillRequest& request,
                                         const engine::ModelConfig& config,
                                         const engine::KvCacheGeometry& geometry,
                                         int64_t cache_blocks, const std::string& served_model_id);

// SamplingParams → SamplingOptions, the same mapping kvc-decode uses: temperature,
// top_k as is; top_p 0 means 1 (disabled); seed as is (0 when unset); max_tokens
// at least 1.
engine::SamplingOptions ToSamplingOptions(const v1::SamplingParams& params);

}  // namespace kvc::prefill::internal

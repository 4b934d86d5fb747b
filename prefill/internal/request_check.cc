#include "prefill/internal/request_check.h"

#include <algorithm>
#include <vector>

#include "kvc/common/block_hash.h"
#include "kvc/common/reason.h"

namespace kvc::prefill::internal {
namespace {

Status Bad(const std::string& message, Reason reason) {
  return WithReason(absl::InvalidArgumentError(message), reason);
}

Status CheckTokens(const v1::PrefillRequest& request, const engine::ModelConfig& config,
                   const engine::KvCacheGeometry& geometry, int64_t cache_blocks) {
  const int64_t n = request.token_ids_size();
  if (n == 0) return Bad("token_ids is empty", Reason::kEmptyPrompt);
  for (int64_t i = 0; i < n; ++i) {
    if (request.token_ids(static_cast<int>(i)) >= static_cast<uint64_t>(config.vocab_size)) {
      return Bad("token_ids[" + std::to_string(i) +
                     "] = " + std::to_string(request.token_ids(static_cast<int>(i))) +
                     " is outside the vocabulary [0, " + std::to_string(config.vocab_size) + ")",
                 Reason::kTokenOutOfVocab);
    }
  }
  if (n > config.max_position_embeddings) {
    return Bad("prompt has " + std::to_string(n) + " tokens, model context is " +
                   std::to_string(config.max_position_embeddings),
               Reason::kPromptTooLong);
  }
  const int64_t blocks = (n + geometry.block_tokens - 1) / geometry.block_tokens;
  if (blocks > cache_blocks) {
    return Bad("prompt needs " + std::to_string(blocks) + " KV blocks, the cache holds " +
                   std::to_string(cache_blocks),
               Reason::kPromptTooLong);
  }
  return absl::OkStatus();
}

Status CheckDecodeKv(const v1::PrefillRequest& request, const engine::KvCacheGeometry& geometry) {
  const int64_t n = request.token_ids_size();
  const int64_t blocks = (n + geometry.block_tokens - 1) / geometry.block_tokens;
  if (request.decode_kv_size() != blocks) {
    return Bad("decode_kv has " + std::to_string(request.decode_kv_size()) +
                   " descriptors, the prompt needs " + std::to_string(blocks) + " blocks of " +
                   std::to_string(geometry.block_tokens) + " tokens",
               Reason::kKvLayoutMismatch);
  }
  for (int i = 0; i < request.decode_kv_size(); ++i) {
    const auto& d = request.decode_kv(i);
    if (d.length() != geometry.block_bytes()) {
      return Bad("decode_kv[" + std::to_string(i) + "].length = " + std::to_string(d.length()) +
                     ", block_bytes is " + std::to_string(geometry.block_bytes()),
                 Reason::kKvLayoutMismatch);
    }
    if (d.segment_name().empty()) {
      return Bad("decode_kv[" + std::to_string(i) + "].segment_name is empty",
                 Reason::kKvLayoutMismatch);
    }
  }
  return absl::OkStatus();
}

Status CheckPrefix(const v1::PrefillRequest& request, const engine::KvCacheGeometry& geometry,
                   const std::string& model_id) {
  if (request.prefix_blocks_size() == 0) return absl::OkStatus();
  const auto bt = static_cast<uint32_t>(geometry.block_tokens);
  const std::vector<uint32_t> tokens(request.token_ids().begin(), request.token_ids().end());
  const std::vector<BlockKey> keys = ChainedBlockKeys(model_id, tokens, bt);
  if (static_cast<size_t>(request.prefix_blocks_size()) > keys.size()) {
    return Bad("prefix_blocks has " + std::to_string(request.prefix_blocks_size()) +
                   " blocks, the prompt has " + std::to_string(keys.size()) + " full blocks",
               Reason::kBadPrefix);
  }
  for (int i = 0; i < request.prefix_blocks_size(); ++i) {
    const auto& k = request.prefix_blocks(i).key();
    if (k.hi() != keys[static_cast<size_t>(i)].hi || k.lo() != keys[static_cast<size_t>(i)].lo) {
      return Bad("prefix_blocks[" + std::to_string(i) +
                     "].key is not the chained key of the prompt's block " + std::to_string(i) +
                     " under model '" + model_id + "'",
                 Reason::kBadPrefix);
    }
  }
  return absl::OkStatus();
}

}  // namespace

Status CheckPrefillRequest(const v1::PrefillRequest& request, const engine::ModelConfig& config,
                           const engine::KvCacheGeometry& geometry, int64_t cache_blocks,
                           const std::string& served_model_id) {
  if (request.header().request_id().empty()) {
    return Bad("header.request_id is empty", Reason::kMissingRequestId);
  }
  if (!request.model_id().empty() && request.model_id() != served_model_id) {
    return Bad(
        "model_id '" + request.model_id() + "' is not the served model '" + served_model_id + "'",
        Reason::kModelMismatch);
  }
  KVC_RETURN_IF_ERROR(CheckTokens(request, config, geometry, cache_blocks));
  KVC_RETURN_IF_ERROR(CheckDecodeKv(request, geometry));
  KVC_RETURN_IF_ERROR(CheckPrefix(request, geometry, served_model_id));
  const Status sampling = engine::ValidateSamplingOptions(ToSamplingOptions(request.sampling()));
  if (!sampling.ok()) return Bad(std::string(sampling.message()), Reason::kBadSampling);
  return absl::OkStatus();
}

engine::SamplingOptions ToSamplingOptions(const v1::SamplingParams& params) {
  engine::SamplingOptions o;
  o.temperature = params.temperature();
  o.top_k = params.top_k();
  o.top_p = params.top_p() == 0.0f ? 1.0 : params.top_p();
  o.seed = params.seed();
  o.max_tokens = std::max<int64_t>(1, params.max_tokens());
  o.ignore_eos = params.ignore_eos();
  for (uint32_t id : params.stop_token_ids()) o.stop_token_ids.push_back(static_cast<int32_t>(id));
  return o;
}

}  // namespace kvc::prefill::internal

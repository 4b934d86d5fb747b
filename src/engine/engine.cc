#include "kvc/engine/engine.h"

#include "kvc/common/reason.h"

namespace kvc::engine {

Status Engine::EnsureBlocks(Sequence& seq, int64_t num_tokens) {
  const int64_t bt = cache().geometry().block_tokens;
  const size_t needed = static_cast<size_t>((num_tokens + bt - 1) / bt);
  std::vector<BlockId> added;
  while (seq.blocks.size() + added.size() < needed) {
    auto id = cache().Allocate();
    if (!id.ok()) {
      for (BlockId b : added) cache().Free(b);  // all or nothing
      return id.status();
    }
    added.push_back(*id);
  }
  seq.blocks.insert(seq.blocks.end(), added.begin(), added.end());
  return absl::OkStatus();
}

void Engine::Release(Sequence& seq) {
  for (BlockId b : seq.blocks) cache().Free(b);
  seq = Sequence{};
}

Status ValidatePrefill(const ModelConfig& config, int64_t block_tokens, const Sequence& seq,
                       std::span<const int32_t> prompt, int64_t cached_prefix) {
  if (prompt.empty()) return absl::InvalidArgumentError("prompt is empty");
  for (size_t i = 0; i < prompt.size(); ++i) {
    if (prompt[i] < 0 || prompt[i] >= config.vocab_size) {
      return absl::InvalidArgumentError(
          "prompt token " + std::to_string(i) + " has id " + std::to_string(prompt[i]) +
          ", outside the vocabulary [0, " + std::to_string(config.vocab_size) + ")");
    }
  }
  const auto n = static_cast<int64_t>(prompt.size());
  if (n > config.max_position_embeddings) {
    return WithReason(absl::InvalidArgumentError("prompt has " + std::to_string(n) +
                                                 " tokens, model context is " +
                                                 std::to_string(config.max_position_embeddings)),
                      Reason::kPromptTooLong);
  }
  if (cached_prefix < 0 || cached_prefix > n || cached_prefix % block_tokens != 0) {
    return absl::InvalidArgumentError("cached prefix of " + std::to_string(cached_prefix) +
                                      " tokens must be a multiple of block_tokens (" +
                                      std::to_string(block_tokens) +
                                      ") not above the prompt length " + std::to_string(n));
  }
  if (static_cast<int64_t>(seq.blocks.size()) < cached_prefix / block_tokens) {
    return absl::InvalidArgumentError("cached prefix of " + std::to_string(cached_prefix) +
                                      " tokens but the sequence holds only " +
                                      std::to_string(seq.blocks.size()) + " blocks");
  }
  return absl::OkStatus();
}

Status ValidateDecodeBatch(const ModelConfig& config, std::span<Sequence* const> batch) {
  for (size_t i = 0; i < batch.size(); ++i) {
    const Sequence& s = *batch[i];
    if (static_cast<int64_t>(s.tokens.size()) != s.num_computed + 1 || s.num_computed == 0) {
      return absl::InvalidArgumentError("batch entry " + std::to_string(i) +
                                        " must have exactly one new token after a prefill");
    }
    if (s.tokens.back() < 0 || s.tokens.back() >= config.vocab_size) {
      return absl::InvalidArgumentError("batch entry " + std::to_string(i) + " has token id " +
                                        std::to_string(s.tokens.back()) +
                                        " outside the vocabulary");
    }
    if (static_cast<int64_t>(s.tokens.size()) > config.max_position_embeddings) {
      return WithReason(absl::OutOfRangeError("batch entry " + std::to_string(i) +
                                              " reached the model context of " +
                                              std::to_string(config.max_position_embeddings)),
                        Reason::kContextFull);
    }
  }
  return absl::OkStatus();
}

}  // namespace kvc::engine

// The inference engine interface shared by the CPU, CUDA and simulated backends.
// An engine owns a paged KV cache; a Sequence (owned by the caller) is one request's
// tokens and block table. Prefill computes the uncached part of a prompt in chunks;
// DecodeStep advances a continuous batch by one token per request.
//
// Thread-safety: one thread drives an engine at a time (Prefill and DecodeStep must
// not run concurrently); the KV cache's allocator itself is thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kvc/common/status.h"
#include "kvc/engine/kv_cache.h"
#include "kvc/engine/model_config.h"

namespace kvc::engine {

// One request's state. Block i of `blocks` holds positions [i*B, (i+1)*B), B = block_tokens.
struct Sequence {
  std::vector<int32_t> tokens;  // every token so far: prompt, then generated ones
  std::vector<BlockId> blocks;  // block table
  int64_t num_computed = 0;     // tokens whose KV is in the cache (a prefix of tokens)
};

// Called when layer `layer`'s KV for tokens [begin, end) is in the cache, before the
// next layer is computed; it runs on the engine's thread and must not call the engine.
using LayerReadyHook = std::function<void(int64_t layer, int64_t begin, int64_t end)>;

class Engine {
 public:
  virtual ~Engine() = default;

  virtual const ModelConfig& config() const = 0;
  virtual KvCache& cache() = 0;
  // "cpu", "cuda" or "sim".
  virtual std::string backend() const = 0;

  // Runs prefill of `prompt` for `seq`. The first `cached_prefix` tokens' KV is
  // already in seq.blocks (imported by the caller: whole blocks, so cached_prefix is
  // a multiple of block_tokens, or 0); only the rest is computed, `chunk_tokens` at a
  // time (0 = all at once), calling `hook` per layer per chunk. When the whole prompt
  // is cached, its last token is recomputed (rewriting its KV, equal up to rounding). Allocates the
  // blocks the prompt needs. Returns the logits [vocab] of the last prompt token. Fails (seq
  // unchanged) on an empty prompt, an id outside the vocabulary, a prompt over
  // max_position_embeddings, a bad cached_prefix, or a full cache.
  [[nodiscard]] virtual StatusOr<std::vector<float>> Prefill(
      Sequence& seq, std::span<const int32_t> prompt, int64_t cached_prefix, int64_t chunk_tokens,
      const LayerReadyHook& hook = nullptr) = 0;

  // One decode step for a batch of sequences of any lengths. REQUIRES for each:
  // tokens.size() == num_computed + 1 (the newest token is not computed yet). Appends
  // its KV and returns the logits [vocab] per sequence, in batch order.
  [[nodiscard]] virtual StatusOr<std::vector<std::vector<float>>> DecodeStep(
      std::span<Sequence* const> batch) = 0;

  // Host staging for backends whose KV lives in device memory (CUDA): copy a block's
  // device bytes into cache().Block(id) before exporting it, and back after importing
  // bytes (or one layer of them) into it. No-ops where cache() is the real storage.
  [[nodiscard]] virtual Status StageBlockToHost(BlockId id) { return absl::OkStatus(); }
  [[nodiscard]] virtual Status StageBlockToDevice(BlockId id) { return absl::OkStatus(); }

  // Makes sure seq has blocks for `num_tokens` positions (allocating as needed).
  [[nodiscard]] Status EnsureBlocks(Sequence& seq, int64_t num_tokens);
  // Frees every block of seq and clears it.
  void Release(Sequence& seq);
};

// Validates the Prefill arguments common to every backend (see Engine::Prefill).
[[nodiscard]] Status ValidatePrefill(const ModelConfig& config, int64_t block_tokens,
                                     const Sequence& seq, std::span<const int32_t> prompt,
                                     int64_t cached_prefix);
// Validates a decode batch (see Engine::DecodeStep).
[[nodiscard]] Status ValidateDecodeBatch(const ModelConfig& config,
                                         std::span<Sequence* const> batch);

}  // namespace kvc::engine

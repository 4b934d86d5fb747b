// The simulated backend (the Mooncake paper's "dummy model"): no math. Each prefill
// chunk and decode step takes the time kvc::perfmodel predicts for the chosen node
// (prefill from FLOPs = l*(a*n^2*d + b*n*d^2) with the cached prefix subtracted,
// decode from weight + KV bytes over HBM bandwidth), scaled by time_scale; token ids
// are a deterministic function of the request's tokens; and the KV cache holds real
// bytes (kv_bytes_per_token per token, deterministic content) so the store and the
// transfer engine carry real data at a size this machine can hold.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "kvc/engine/engine.h"

namespace kvc::engine {

struct SimEngineOptions {
  std::string preset = "llama3-70b-a800x8";  // perfmodel preset (also llama3-70b-h800x8)
  double time_scale = 1.0;  // wall seconds per modelled second (0.01 = 100x faster, 0 = no waiting)
  int64_t kv_bytes_per_token =
      1280;  // real KV bytes per token over all layers; a multiple of the layer count
  int64_t block_tokens = 512;          // tokens per KV block (the traces use 512)
  int64_t num_blocks = 256;            // KV cache capacity in blocks
  int64_t vocab_size = 128256;         // token ids are drawn from [0, vocab_size)
  std::vector<int64_t> eos_token_ids;  // ids the generator stops at (none by default)
  int64_t max_position_embeddings = 131072;
  // Waits `seconds` of wall time; injected by tests. Default: sleep_for.
  std::function<void(double seconds)> sleep;
  KvArenaAllocator kv_arena = {};  // where the KV cache's arena comes from (default: the heap)
};

// Fails on an unknown preset (listing the known ones) or invalid sizes.
[[nodiscard]] StatusOr<std::unique_ptr<Engine>> NewSimEngine(const SimEngineOptions& options);

// The token the simulated model emits after `last_token` at position `position`.
int32_t SimNextToken(int32_t last_token, int64_t position, int64_t vocab_size);

}  // namespace kvc::engine

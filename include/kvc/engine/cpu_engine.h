// The CPU backend: f32 math with OpenBLAS GEMMs over a paged f32 KV cache.
#pragma once

#include <memory>

#include "kvc/engine/engine.h"
#include "kvc/engine/model_weights.h"

namespace kvc::engine {

struct CpuEngineOptions {
  int64_t num_blocks = 512;   // KV cache capacity in blocks (memory = num_blocks * block bytes)
  int64_t block_tokens = 16;  // tokens per KV block: 16 for kvc-tiny, 512 to match the traces
  int threads = 0;            // OpenBLAS threads; 0 leaves OpenBLAS's default (all cores)
  KvArenaAllocator kv_arena = {};  // where the KV cache's arena comes from (default: the heap)
};

// A CPU engine over `weights` (shared, read-only). Fails on invalid options.
[[nodiscard]] StatusOr<std::unique_ptr<Engine>> NewCpuEngine(
    std::shared_ptr<const ModelWeights> weights, const CpuEngineOptions& options);

}  // namespace kvc::engine

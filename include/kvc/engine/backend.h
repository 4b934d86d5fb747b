// Picks and builds an engine backend for a model directory: "cpu" (default), "cuda",
// "sim". The one place that knows every backend.
#pragma once

#include <memory>
#include <string>

#include "kvc/engine/engine.h"

namespace kvc::engine {

struct EngineOptions {
  std::string backend = "cpu";  // cpu | cuda | sim
  int64_t num_blocks = 512;     // KV cache capacity in blocks
  int64_t block_tokens = 16;    // tokens per KV block (16 for kvc-tiny, 512 for traces)
  int threads = 0;              // CPU: OpenBLAS threads (0 = library default)
  int cuda_device = 0;          // CUDA: device ordinal
  // sim: perfmodel preset, wall seconds per modelled second, real KV bytes per token.
  // The model directory's config.json (when present) gives vocabulary and EOS ids.
  std::string sim_preset = "llama3-70b-a800x8";
  double sim_time_scale = 1.0;
  int64_t sim_kv_bytes_per_token = 1280;
  // Where the KV cache's arena comes from (default: the heap); not a config key: a
  // worker sets it to its transfer engine's shared memory.
  KvArenaAllocator kv_arena = {};
};

// Loads the model in `model_dir` and builds the backend. Errors name the backend
// ("cuda backend not compiled in", "no CUDA device") or the bad model file.
[[nodiscard]] StatusOr<std::unique_ptr<Engine>> NewEngine(const std::string& model_dir,
                                                          const EngineOptions& options);

}  // namespace kvc::engine

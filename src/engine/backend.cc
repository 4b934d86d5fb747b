#include "kvc/engine/backend.h"

#include "kvc/engine/cpu_engine.h"
#include "kvc/engine/cuda_engine.h"
#include "kvc/engine/model_weights.h"
#include "kvc/engine/sim_engine.h"

namespace kvc::engine {

namespace {

StatusOr<std::unique_ptr<Engine>> NewBackend(const std::string& model_dir,
                                             const EngineOptions& options) {
  if (options.backend == "cpu") {
    KVC_ASSIGN_OR_RETURN(std::shared_ptr<const ModelWeights> weights, LoadModelWeights(model_dir));
    return NewCpuEngine(std::move(weights),
                        CpuEngineOptions{options.num_blocks, options.block_tokens, options.threads,
                                         options.kv_arena});
  }
  if (options.backend == "cuda") {
    // Fail before reading gigabytes of weights.
    if (!CudaCompiledIn()) return NewCudaEngine(nullptr, {}).status();
    if (!CudaDeviceAvailable()) return absl::UnavailableError("cuda backend: no CUDA device found");
    KVC_ASSIGN_OR_RETURN(std::shared_ptr<const ModelWeights> weights, LoadModelWeights(model_dir));
    return NewCudaEngine(std::move(weights),
                         CudaEngineOptions{options.num_blocks, options.block_tokens,
                                           options.cuda_device, options.kv_arena});
  }
  if (options.backend == "sim") {
    SimEngineOptions so;
    so.preset = options.sim_preset;
    so.time_scale = options.sim_time_scale;
    so.kv_bytes_per_token = options.sim_kv_bytes_per_token;
    so.block_tokens = options.block_tokens;
    so.num_blocks = options.num_blocks;
    so.kv_arena = options.kv_arena;
    if (!model_dir.empty()) {
      KVC_ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig(model_dir));
      so.vocab_size = config.vocab_size;
      so.eos_token_ids = config.eos_token_ids;
      so.max_position_embeddings = config.max_position_embeddings;
    }
    return NewSimEngine(so);
  }
  return absl::InvalidArgumentError("unknown backend '" + options.backend + "' (cpu, cuda, sim)");
}

}  // namespace

StatusOr<std::unique_ptr<Engine>> NewEngine(const std::string& model_dir,
                                            const EngineOptions& options) {
  KVC_ASSIGN_OR_RETURN(std::unique_ptr<Engine> engine, NewBackend(model_dir, options));
  if (const Status& arena = engine->cache().status(); !arena.ok()) {
    return Status(arena.code(), "KV cache arena of " + std::to_string(options.num_blocks) +
                                    " blocks: " + std::string(arena.message()));
  }
  return engine;
}

}  // namespace kvc::engine

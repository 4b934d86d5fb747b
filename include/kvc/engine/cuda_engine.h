// The CUDA backend: bf16 weights and KV cache in device memory, cuBLAS GEMMs (bf16
// inputs, f32 accumulation), kernels for RMSNorm, RoPE, paged attention, SwiGLU and
// greedy argmax; f32 activations. The engine's cache() is a host staging mirror of the
// device KV blocks (Engine::StageBlockToHost / StageBlockToDevice).
// Built only when nvcc exists (KVC_HAVE_CUDA); otherwise NewCudaEngine says so.
// Compiled in this project's CI but NOT validated on a GPU (see docs/engine.md).
#pragma once

#include <memory>

#include "kvc/engine/engine.h"
#include "kvc/engine/model_weights.h"

namespace kvc::engine {

struct CudaEngineOptions {
  int64_t num_blocks = 512;        // KV blocks reserved in device memory (and mirrored on the host)
  int64_t block_tokens = 16;       // tokens per KV block
  int device = 0;                  // CUDA device ordinal
  KvArenaAllocator kv_arena = {};  // where the host staging mirror comes from (default: the heap)
};

// True when this build contains the CUDA backend.
bool CudaCompiledIn();
// True when the backend is compiled in and at least one CUDA device is usable.
bool CudaDeviceAvailable();

// UNIMPLEMENTED when built without CUDA, UNAVAILABLE without a device, RESOURCE_EXHAUSTED
// when the weights or KV blocks do not fit in device memory.
[[nodiscard]] StatusOr<std::unique_ptr<Engine>> NewCudaEngine(
    std::shared_ptr<const ModelWeights> weights, const CudaEngineOptions& options);

}  // namespace kvc::engine

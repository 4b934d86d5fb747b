// f32 building blocks of the CPU backend. Row-major throughout; a weight W of a
// projection is [out, in] (Hugging Face layout). Not thread-safe by themselves.
#pragma once

#include <cstdint>
#include <vector>

#include "kvc/engine/model_config.h"

namespace kvc::engine::internal {

// y[rows, out] = x[rows, in] * W[out, in]^T (+ bias[out] when non-null). OpenBLAS.
void Linear(const float* x, int64_t rows, int64_t in, const float* w, int64_t out,
            const float* bias, float* y);

// y[r] = x[r] / rms(x[r]) * weight, per row of width `dim`.
void RmsNorm(const float* x, int64_t rows, int64_t dim, const float* weight, double eps, float* y);

// x[i] = silu(gate[i]) * up[i]  (SwiGLU), in place into gate.
void SwiGlu(float* gate, const float* up, int64_t n);

// RoPE inverse frequencies for head_dim, with Llama-3 scaling when enabled.
std::vector<double> RopeInverseFrequencies(const ModelConfig& config);

// Rotates `heads` heads of width head_dim in row `x` by position `pos` (rotate-half
// convention: pairs (i, i + head_dim/2)).
void ApplyRope(float* x, int64_t heads, int64_t head_dim, const float* cos, const float* sin);

// cos/sin tables [head_dim/2] for one position.
void RopeTables(const std::vector<double>& inv_freq, int64_t pos, float* cos, float* sin);

}  // namespace kvc::engine::internal

// CUDA kernels of the CUDA backend, behind plain C++ launchers (this header includes
// no CUDA or abseil header, so host code compiled by g++ can call them). Activations
// are f32, weights and the KV cache bf16 (passed as uint16_t bit patterns). Every
// launcher is asynchronous on `stream`.
#pragma once

#include <cstdint>

namespace kvc::engine::cuda {

using Stream = void*;   // cudaStream_t
using Bf16 = uint16_t;  // __nv_bfloat16 bits

// out[r] = f32(table[tokens[r]]), rows of width d.
void Embed(const Bf16* table, const int32_t* tokens, int rows, int d, float* out, Stream s);
// y = bf16(x / rms(x) * w) per row; also the f32 result into y32 when non-null.
void RmsNorm(const float* x, const float* w, int rows, int d, float eps, Bf16* y, float* y32,
             Stream s);
void ToBf16(const float* x, Bf16* y, int64_t n, Stream s);
// y[r, o] += bias[o].
void AddBias(float* y, const float* bias, int rows, int out, Stream s);
// x += y.
void Add(float* x, const float* y, int64_t n, Stream s);
// Rotate-half RoPE of `heads` heads per row at positions[r].
void Rope(float* x, const int32_t* positions, const float* inv_freq, int rows, int heads,
          int head_dim, Stream s);
// Writes row r's K and V (kvd = kv_heads*head_dim values each) as bf16 at element
// offset slot_offset[r] + layer_offset of `arena` (V at that + v_stride).
void StoreKv(const float* k, const float* v, const int64_t* slot_offset, int64_t layer_offset,
             int64_t v_stride, Bf16* arena, int rows, int kvd, Stream s);

// Paged causal attention. Row r attends to positions [0, positions[r]] of its request,
// whose block ids are tables[table_start[r] ...]. Element offset of key t, kv head g:
// block * block_elems + layer_offset + (t % block_tokens) * kvd + g * head_dim.
struct AttentionArgs {
  const float* q;  // [rows, heads*head_dim]
  const Bf16* arena;
  const int32_t* positions;    // [rows]
  const int32_t* table_start;  // [rows]
  const int32_t* tables;       // flattened block tables
  int rows, heads, kv_heads, head_dim, block_tokens;
  int64_t block_elems, layer_offset, v_stride;
  int max_context;  // max positions[r] + 1, sizes the score scratch
  float* scores;    // scratch [rows*heads*max_context]
  float* out;       // [rows, heads*head_dim]
};
void Attention(const AttentionArgs& a, Stream s);

// out = bf16(silu(gate) * up).
void SwiGlu(const float* gate, const float* up, int64_t n, Bf16* out, Stream s);

}  // namespace kvc::engine::cuda

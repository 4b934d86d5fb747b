#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cfloat>

#include "src/engine/cuda/kernels.h"

namespace kvc::engine::cuda {
namespace {

constexpr int kThreads = 256;

__device__ float Bf(Bf16 v) { return __uint_as_float(static_cast<uint32_t>(v) << 16); }
__device__ Bf16 ToBf(float f) {
  __nv_bfloat16 b = __float2bfloat16_rn(f);
  return *reinterpret_cast<Bf16*>(&b);
}
cudaStream_t S(Stream s) { return static_cast<cudaStream_t>(s); }
int Blocks(int64_t n) { return static_cast<int>((n + kThreads - 1) / kThreads); }

// Block-wide reduction (sum or max) through shared memory.
template <bool kMax>
__device__ float BlockReduce(float v, float* shared) {
  for (int o = 16; o > 0; o >>= 1) {
    const float other = __shfl_xor_sync(0xffffffff, v, o);
    v = kMax ? fmaxf(v, other) : v + other;
  }
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  const int warps = (blockDim.x + 31) / 32;
  v = threadIdx.x < warps ? shared[threadIdx.x] : (kMax ? -FLT_MAX : 0.0f);
  if (warp == 0) {
    for (int o = 16; o > 0; o >>= 1) {
      const float other = __shfl_xor_sync(0xffffffff, v, o);
      v = kMax ? fmaxf(v, other) : v + other;
    }
    if (lane == 0) shared[0] = v;
  }
  __syncthreads();
  const float result = shared[0];
  __syncthreads();
  return result;
}

__global__ void EmbedKernel(const Bf16* table, const int32_t* tokens, int d, float* out) {
  const int r = blockIdx.x;
  for (int i = threadIdx.x; i < d; i += blockDim.x) {
    out[static_cast<int64_t>(r) * d + i] = Bf(table[static_cast<int64_t>(tokens[r]) * d + i]);
  }
}

__global__ void RmsNormKernel(const float* x, const float* w, int d, float eps, Bf16* y,
                              float* y32) {
  __shared__ float shared[32];
  const float* xr = x + static_cast<int64_t>(blockIdx.x) * d;
  float ss = 0;
  for (int i = threadIdx.x; i < d; i += blockDim.x) ss += xr[i] * xr[i];
  const float inv = rsqrtf(BlockReduce<false>(ss, shared) / d + eps);
  for (int i = threadIdx.x; i < d; i += blockDim.x) {
    const float v = xr[i] * inv * w[i];
    y[static_cast<int64_t>(blockIdx.x) * d + i] = ToBf(v);
    if (y32) y32[static_cast<int64_t>(blockIdx.x) * d + i] = v;
  }
}

__global__ void ToBf16Kernel(const float* x, Bf16* y, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] = ToBf(x[i]);
}

__global__ void AddBiasKernel(float* y, const float* bias, int64_t n, int out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) y[i] += bias[i % out];
}

__global__ void AddKernel(float* x, const float* y, int64_t n) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) x[i] += y[i];
}

__global__ void RopeKernel(float* x, const int32_t* positions, const float* inv_freq, int heads,
                           int hd) {
  const int r = blockIdx.x, half = hd / 2;
  for (int j = threadIdx.x; j < heads * half; j += blockDim.x) {
    const int h = j / half, i = j % half;
    float* v = x + (static_cast<int64_t>(r) * heads + h) * hd;
    float sn, cs;
    sincosf(positions[r] * inv_freq[i], &sn, &cs);
    const float a = v[i], b = v[i + half];
    v[i] = a * cs - b * sn;
    v[i + half] = b * cs + a * sn;
  }
}

__global__ void StoreKvKernel(const float* k, const float* v, const int64_t* slot_offset,
                              int64_t layer_offset, int64_t v_stride, Bf16* arena, int kvd) {
  const int r = blockIdx.x;
  const int64_t base = slot_offset[r] + layer_offset;
  for (int i = threadIdx.x; i < kvd; i += blockDim.x) {
    arena[base + i] = ToBf(k[static_cast<int64_t>(r) * kvd + i]);
    arena[base + v_stride + i] = ToBf(v[static_cast<int64_t>(r) * kvd + i]);
  }
}

// One block per (row, head): scores into scratch, softmax, weighted sum of V.
__global__ void AttentionKernel(AttentionArgs a) {
  __shared__ float shared[32];
  extern __shared__ float q_shared[];
  const int r = blockIdx.x, h = blockIdx.y, hd = a.head_dim;
  const int g = h / (a.heads / a.kv_heads), kvd = a.kv_heads * hd, pos = a.positions[r];
  const float* q = a.q + (static_cast<int64_t>(r) * a.heads + h) * hd;
  for (int i = threadIdx.x; i < hd; i += blockDim.x) q_shared[i] = q[i];
  __syncthreads();
  float* scores = a.scores + (static_cast<int64_t>(r) * a.heads + h) * a.max_context;
  const int32_t* table = a.tables + a.table_start[r];
  const float scale = rsqrtf(static_cast<float>(hd));
  float local_max = -FLT_MAX;
  for (int t = threadIdx.x; t <= pos; t += blockDim.x) {
    const Bf16* key = a.arena + table[t / a.block_tokens] * a.block_elems + a.layer_offset +
                      static_cast<int64_t>(t % a.block_tokens) * kvd + g * hd;
    float dot = 0;
    for (int i = 0; i < hd; ++i) dot += q_shared[i] * Bf(key[i]);
    scores[t] = dot * scale;
    local_max = fmaxf(local_max, scores[t]);
  }
  const float max_score = BlockReduce<true>(local_max, shared);
  float local_sum = 0;
  for (int t = threadIdx.x; t <= pos; t += blockDim.x) {
    scores[t] = __expf(scores[t] - max_score);
    local_sum += scores[t];
  }
  const float inv_sum = 1.0f / BlockReduce<false>(local_sum, shared);  // syncs: scores visible
  float* out = a.out + (static_cast<int64_t>(r) * a.heads + h) * hd;
  for (int i = threadIdx.x; i < hd; i += blockDim.x) {
    float acc = 0;
    for (int t = 0; t <= pos; ++t) {
      const Bf16* val = a.arena + table[t / a.block_tokens] * a.block_elems + a.layer_offset +
                        a.v_stride + static_cast<int64_t>(t % a.block_tokens) * kvd + g * hd;
      acc += scores[t] * Bf(val[i]);
    }
    out[i] = acc * inv_sum;
  }
}

__global__ void SwiGluKernel(const float* gate, const float* up, int64_t n, Bf16* out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) out[i] = ToBf(gate[i] / (1.0f + __expf(-gate[i])) * up[i]);
}

}  // namespace

void Embed(const Bf16* table, const int32_t* tokens, int rows, int d, float* out, Stream s) {
  EmbedKernel<<<rows, kThreads, 0, S(s)>>>(table, tokens, d, out);
}
void RmsNorm(const float* x, const float* w, int rows, int d, float eps, Bf16* y, float* y32,
             Stream s) {
  RmsNormKernel<<<rows, kThreads, 0, S(s)>>>(x, w, d, eps, y, y32);
}
void ToBf16(const float* x, Bf16* y, int64_t n, Stream s) {
  ToBf16Kernel<<<Blocks(n), kThreads, 0, S(s)>>>(x, y, n);
}
void AddBias(float* y, const float* bias, int rows, int out, Stream s) {
  const int64_t n = static_cast<int64_t>(rows) * out;
  AddBiasKernel<<<Blocks(n), kThreads, 0, S(s)>>>(y, bias, n, out);
}
void Add(float* x, const float* y, int64_t n, Stream s) {
  AddKernel<<<Blocks(n), kThreads, 0, S(s)>>>(x, y, n);
}
void Rope(float* x, const int32_t* positions, const float* inv_freq, int rows, int heads, int hd,
          Stream s) {
  RopeKernel<<<rows, kThreads, 0, S(s)>>>(x, positions, inv_freq, heads, hd);
}
void StoreKv(const float* k, const float* v, const int64_t* slot_offset, int64_t layer_offset,
             int64_t v_stride, Bf16* arena, int rows, int kvd, Stream s) {
  StoreKvKernel<<<rows, kThreads, 0, S(s)>>>(k, v, slot_offset, layer_offset, v_stride, arena, kvd);
}
void Attention(const AttentionArgs& a, Stream s) {
  const dim3 grid(a.rows, a.heads);
  AttentionKernel<<<grid, 128, a.head_dim * sizeof(float), S(s)>>>(a);
}
void SwiGlu(const float* gate, const float* up, int64_t n, Bf16* out, Stream s) {
  SwiGluKernel<<<Blocks(n), kThreads, 0, S(s)>>>(gate, up, n, out);
}

}  // namespace kvc::engine::cuda

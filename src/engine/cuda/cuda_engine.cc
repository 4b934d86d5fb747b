// Host side of the CUDA backend: uploads bf16 weights, keeps the KV arena in device
// memory in the docs/kv-layout.md layout, and drives cuBLAS and the kernels of
// kernels.cu. Same segment scheme as the CPU engine (prefill chunk = one segment,
// decode batch = one segment per request).
#include "kvc/engine/cuda_engine.h"

#include <cublas_v2.h>

#include <algorithm>

#include "src/engine/cuda/device_buffer.h"
#include "src/engine/cuda/kernels.h"
#include "src/engine/internal/cpu_ops.h"

namespace kvc::engine {
namespace {

using cuda::Bf16;
using cuda::DeviceBuffer;

struct DeviceLayer {
  DeviceBuffer input_norm, post_norm, wq, wk, wv, wo, bq, bk, bv, w_gate, w_up, w_down;
};

struct Segment {
  Sequence* seq;
  int64_t begin, count;
};

Status UploadBf16(const std::vector<float>& v, DeviceBuffer* out) {
  std::vector<Bf16> bits(v.size());
  for (size_t i = 0; i < v.size(); ++i) bits[i] = FloatToBF16(v[i]);
  return out->Upload(bits);
}

class CudaEngine final : public Engine {
 public:
  CudaEngine(std::shared_ptr<const ModelWeights> w, const CudaEngineOptions& o)
      : w_(std::move(w)),
        c_(w_->config),
        o_(o),
        kvd_(c_.num_kv_heads * c_.head_dim),
        cache_(KvCacheGeometry{c_.num_layers, o.block_tokens, 2 * kvd_ * 2, c_.num_kv_heads,
                               c_.head_dim, /*element_bytes=*/2},
               o.num_blocks, o.kv_arena) {}
  ~CudaEngine() override {
    if (blas_) cublasDestroy(blas_);
    if (stream_) cudaStreamDestroy(stream_);
  }

  Status Init();
  const ModelConfig& config() const override { return c_; }
  KvCache& cache() override { return cache_; }
  std::string backend() const override { return "cuda"; }

  StatusOr<std::vector<float>> Prefill(Sequence& seq, std::span<const int32_t> prompt,
                                       int64_t cached_prefix, int64_t chunk_tokens,
                                       const LayerReadyHook& hook) override {
    KVC_RETURN_IF_ERROR(ValidatePrefill(c_, o_.block_tokens, seq, prompt, cached_prefix));
    const auto n = static_cast<int64_t>(prompt.size());
    KVC_RETURN_IF_ERROR(EnsureBlocks(seq, n));
    seq.tokens = std::vector<int32_t>(prompt.begin(), prompt.end());  // prompt may alias seq.tokens
    // A fully cached prompt still recomputes its last token (same KV) to get logits.
    const int64_t start = std::min(cached_prefix, n - 1);
    seq.num_computed = start;
    const int64_t chunk = chunk_tokens <= 0 ? n : chunk_tokens;
    std::vector<std::vector<float>> logits;
    for (int64_t begin = start; begin < n; begin += chunk) {
      const int64_t count = std::min(chunk, n - begin);
      KVC_ASSIGN_OR_RETURN(logits, Forward({Segment{&seq, begin, count}}, hook));
      seq.num_computed = begin + count;
    }
    return std::move(logits[0]);
  }

  StatusOr<std::vector<std::vector<float>>> DecodeStep(std::span<Sequence* const> batch) override {
    KVC_RETURN_IF_ERROR(ValidateDecodeBatch(c_, batch));
    std::vector<Segment> segs;
    for (Sequence* s : batch) {
      KVC_RETURN_IF_ERROR(EnsureBlocks(*s, static_cast<int64_t>(s->tokens.size())));
      segs.push_back({s, s->num_computed, 1});
    }
    KVC_ASSIGN_OR_RETURN(auto logits, Forward(segs, nullptr));
    for (Sequence* s : batch) ++s->num_computed;
    return logits;
  }

  Status StageBlockToHost(BlockId id) override {
    KVC_CUDA_RETURN_IF_ERROR(
        cudaMemcpy(cache_.Block(id).data(), DeviceBlock(id), BlockBytes(), cudaMemcpyDeviceToHost));
    return absl::OkStatus();
  }
  Status StageBlockToDevice(BlockId id) override {
    KVC_CUDA_RETURN_IF_ERROR(
        cudaMemcpy(DeviceBlock(id), cache_.Block(id).data(), BlockBytes(), cudaMemcpyHostToDevice));
    return absl::OkStatus();
  }

 private:
  size_t BlockBytes() const { return cache_.geometry().block_bytes(); }
  uint8_t* DeviceBlock(BlockId id) const {
    return arena_.as<uint8_t>() + BlockBytes() * static_cast<size_t>(id);
  }
  Status Gemm(const Bf16* x, int64_t rows, int64_t in, const DeviceBuffer& w, int64_t out,
              float* y);
  Status Reserve(int64_t rows, int64_t max_context, size_t segments, size_t table_entries);
  StatusOr<std::vector<std::vector<float>>> Forward(const std::vector<Segment>& segs,
                                                    const LayerReadyHook& hook);
  Status Layer(int64_t l, int64_t rows, int max_context);

  const std::shared_ptr<const ModelWeights> w_;
  const ModelConfig& c_;
  const CudaEngineOptions o_;
  const int64_t kvd_;
  KvCache cache_;  // host staging mirror

  cudaStream_t stream_ = nullptr;
  cublasHandle_t blas_ = nullptr;
  DeviceBuffer embed_, final_norm_, lm_head_, inv_freq_, arena_;
  std::vector<DeviceLayer> layers_;
  // Per-forward scratch, grown on demand.
  DeviceBuffer x_, h_, q_, k_, v_, attn_, tmp_, gate_, up_, act_, scores_, logits_, last_;
  DeviceBuffer tokens_, positions_, table_start_, tables_, slot_offset_;
};

Status CudaEngine::Init() {
  KVC_CUDA_RETURN_IF_ERROR(cudaSetDevice(o_.device));
  KVC_CUDA_RETURN_IF_ERROR(cudaStreamCreate(&stream_));
  if (cublasCreate(&blas_) != CUBLAS_STATUS_SUCCESS)
    return absl::InternalError("cublasCreate failed");
  cublasSetStream(blas_, stream_);
  KVC_RETURN_IF_ERROR(UploadBf16(w_->embed, &embed_));
  KVC_RETURN_IF_ERROR(final_norm_.Upload(w_->final_norm));
  if (!w_->lm_head.empty()) KVC_RETURN_IF_ERROR(UploadBf16(w_->lm_head, &lm_head_));
  std::vector<float> inv;
  for (double f : internal::RopeInverseFrequencies(c_)) inv.push_back(static_cast<float>(f));
  KVC_RETURN_IF_ERROR(inv_freq_.Upload(inv));
  layers_.resize(w_->layers.size());
  for (size_t l = 0; l < layers_.size(); ++l) {
    const LayerWeights& L = w_->layers[l];
    DeviceLayer& D = layers_[l];
    KVC_RETURN_IF_ERROR(D.input_norm.Upload(L.input_norm));
    KVC_RETURN_IF_ERROR(D.post_norm.Upload(L.post_norm));
    for (auto [src, dst] : {std::pair{&L.wq, &D.wq},
                            {&L.wk, &D.wk},
                            {&L.wv, &D.wv},
                            {&L.wo, &D.wo},
                            {&L.w_gate, &D.w_gate},
                            {&L.w_up, &D.w_up},
                            {&L.w_down, &D.w_down}}) {
      KVC_RETURN_IF_ERROR(UploadBf16(*src, dst));
    }
    if (c_.attention_bias) {
      KVC_RETURN_IF_ERROR(D.bq.Upload(L.bq));
      KVC_RETURN_IF_ERROR(D.bk.Upload(L.bk));
      KVC_RETURN_IF_ERROR(D.bv.Upload(L.bv));
    }
  }
  KVC_RETURN_IF_ERROR(arena_.Reserve(BlockBytes() * static_cast<size_t>(o_.num_blocks)));
  KVC_CUDA_RETURN_IF_ERROR(cudaMemset(arena_.as<void>(), 0, arena_.bytes()));
  return absl::OkStatus();
}

// y[rows, out] = x[rows, in] * W[out, in]^T with row-major operands: in cuBLAS's
// column-major view this is y^T = W * x^T, i.e. op(A) = W^T-as-stored transposed.
Status CudaEngine::Gemm(const Bf16* x, int64_t rows, int64_t in, const DeviceBuffer& w, int64_t out,
                        float* y) {
  const float alpha = 1.0f, beta = 0.0f;
  const auto st =
      cublasGemmEx(blas_, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(out), static_cast<int>(rows),
                   static_cast<int>(in), &alpha, w.as<void>(), CUDA_R_16BF, static_cast<int>(in), x,
                   CUDA_R_16BF, static_cast<int>(in), &beta, y, CUDA_R_32F, static_cast<int>(out),
                   CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT);
  if (st != CUBLAS_STATUS_SUCCESS)
    return absl::InternalError("cublasGemmEx failed: " + std::to_string(st));
  return absl::OkStatus();
}

Status CudaEngine::Reserve(int64_t rows, int64_t max_context, size_t segments,
                           size_t table_entries) {
  const size_t r = static_cast<size_t>(rows), f = sizeof(float), b = sizeof(Bf16);
  const size_t d = c_.hidden_size, qd = c_.num_heads * c_.head_dim, kvd = kvd_,
               in = c_.intermediate_size;
  KVC_RETURN_IF_ERROR(x_.Reserve(r * d * f));
  KVC_RETURN_IF_ERROR(h_.Reserve(r * std::max(d, qd) * b));
  KVC_RETURN_IF_ERROR(q_.Reserve(r * qd * f));
  KVC_RETURN_IF_ERROR(k_.Reserve(r * kvd * f));
  KVC_RETURN_IF_ERROR(v_.Reserve(r * kvd * f));
  KVC_RETURN_IF_ERROR(attn_.Reserve(r * qd * f));
  KVC_RETURN_IF_ERROR(tmp_.Reserve(r * d * f));
  KVC_RETURN_IF_ERROR(gate_.Reserve(r * in * f));
  KVC_RETURN_IF_ERROR(up_.Reserve(r * in * f));
  KVC_RETURN_IF_ERROR(act_.Reserve(r * in * b));
  KVC_RETURN_IF_ERROR(scores_.Reserve(r * c_.num_heads * static_cast<size_t>(max_context) * f));
  KVC_RETURN_IF_ERROR(last_.Reserve(segments * d * f));
  KVC_RETURN_IF_ERROR(logits_.Reserve(segments * c_.vocab_size * f));
  KVC_RETURN_IF_ERROR(tokens_.Reserve(r * 4));
  KVC_RETURN_IF_ERROR(positions_.Reserve(r * 4));
  KVC_RETURN_IF_ERROR(table_start_.Reserve(r * 4));
  KVC_RETURN_IF_ERROR(slot_offset_.Reserve(r * 8));
  return tables_.Reserve(table_entries * 4);
}

StatusOr<std::vector<std::vector<float>>> CudaEngine::Forward(const std::vector<Segment>& segs,
                                                              const LayerReadyHook& hook) {
  const int64_t bt = o_.block_tokens, block_elems = static_cast<int64_t>(BlockBytes() / 2);
  std::vector<int32_t> tokens, positions, table_start, tables;
  std::vector<int64_t> slot_offset;
  int max_context = 0;
  for (const auto& s : segs) {
    const auto start = static_cast<int32_t>(tables.size());
    tables.insert(tables.end(), s.seq->blocks.begin(), s.seq->blocks.end());
    for (int64_t j = 0; j < s.count; ++j) {
      const int64_t pos = s.begin + j;
      tokens.push_back(s.seq->tokens[static_cast<size_t>(pos)]);
      positions.push_back(static_cast<int32_t>(pos));
      table_start.push_back(start);
      slot_offset.push_back(s.seq->blocks[static_cast<size_t>(pos / bt)] * block_elems +
                            (pos % bt) * kvd_);
      max_context = std::max(max_context, static_cast<int>(pos + 1));
    }
  }
  const auto rows = static_cast<int64_t>(tokens.size());
  KVC_RETURN_IF_ERROR(Reserve(rows, max_context, segs.size(), tables.size()));
  KVC_RETURN_IF_ERROR(tokens_.Upload(tokens));
  KVC_RETURN_IF_ERROR(positions_.Upload(positions));
  KVC_RETURN_IF_ERROR(table_start_.Upload(table_start));
  KVC_RETURN_IF_ERROR(tables_.Upload(tables));
  KVC_RETURN_IF_ERROR(slot_offset_.Upload(slot_offset));
  cuda::Embed(embed_.as<Bf16>(), tokens_.as<int32_t>(), static_cast<int>(rows),
              static_cast<int>(c_.hidden_size), x_.as<float>(), stream_);
  for (int64_t l = 0; l < c_.num_layers; ++l) {
    KVC_RETURN_IF_ERROR(Layer(l, rows, max_context));
    if (hook) {  // the layer's KV must be in device memory before anyone reads it
      KVC_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
      for (const auto& s : segs) hook(l, s.begin, s.begin + s.count);
    }
  }
  const size_t d = static_cast<size_t>(c_.hidden_size);
  int64_t r = 0;
  for (size_t i = 0; i < segs.size(); ++i) {
    r += segs[i].count;
    KVC_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(last_.as<float>() + i * d,
                                             x_.as<float>() + (r - 1) * d, d * sizeof(float),
                                             cudaMemcpyDeviceToDevice, stream_));
  }
  const auto n = static_cast<int>(segs.size());
  cuda::RmsNorm(last_.as<float>(), final_norm_.as<float>(), n, static_cast<int>(d),
                static_cast<float>(c_.rms_norm_eps), h_.as<Bf16>(), nullptr, stream_);
  KVC_RETURN_IF_ERROR(Gemm(h_.as<Bf16>(), n, c_.hidden_size, lm_head_.bytes() ? lm_head_ : embed_,
                           c_.vocab_size, logits_.as<float>()));
  std::vector<float> flat(segs.size() * static_cast<size_t>(c_.vocab_size));
  KVC_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(flat.data(), logits_.as<float>(),
                                           flat.size() * sizeof(float), cudaMemcpyDeviceToHost,
                                           stream_));
  KVC_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream_));
  std::vector<std::vector<float>> out(segs.size());
  for (size_t i = 0; i < segs.size(); ++i) {
    out[i].assign(flat.begin() + static_cast<std::ptrdiff_t>(i * c_.vocab_size),
                  flat.begin() + static_cast<std::ptrdiff_t>((i + 1) * c_.vocab_size));
  }
  return out;
}

Status CudaEngine::Layer(int64_t l, int64_t rows, int max_context) {
  const DeviceLayer& D = layers_[static_cast<size_t>(l)];
  const int64_t d = c_.hidden_size, hd = c_.head_dim, qd = c_.num_heads * hd,
                in = c_.intermediate_size;
  const int r = static_cast<int>(rows);
  const float eps = static_cast<float>(c_.rms_norm_eps);
  cuda::RmsNorm(x_.as<float>(), D.input_norm.as<float>(), r, static_cast<int>(d), eps,
                h_.as<Bf16>(), nullptr, stream_);
  KVC_RETURN_IF_ERROR(Gemm(h_.as<Bf16>(), rows, d, D.wq, qd, q_.as<float>()));
  KVC_RETURN_IF_ERROR(Gemm(h_.as<Bf16>(), rows, d, D.wk, kvd_, k_.as<float>()));
  KVC_RETURN_IF_ERROR(Gemm(h_.as<Bf16>(), rows, d, D.wv, kvd_, v_.as<float>()));
  if (c_.attention_bias) {
    cuda::AddBias(q_.as<float>(), D.bq.as<float>(), r, static_cast<int>(qd), stream_);
    cuda::AddBias(k_.as<float>(), D.bk.as<float>(), r, static_cast<int>(kvd_), stream_);
    cuda::AddBias(v_.as<float>(), D.bv.as<float>(), r, static_cast<int>(kvd_), stream_);
  }
  cuda::Rope(q_.as<float>(), positions_.as<int32_t>(), inv_freq_.as<float>(), r,
             static_cast<int>(c_.num_heads), static_cast<int>(hd), stream_);
  cuda::Rope(k_.as<float>(), positions_.as<int32_t>(), inv_freq_.as<float>(), r,
             static_cast<int>(c_.num_kv_heads), static_cast<int>(hd), stream_);
  const int64_t layer_elems = 2 * o_.block_tokens * kvd_;
  cuda::StoreKv(k_.as<float>(), v_.as<float>(), slot_offset_.as<int64_t>(), l * layer_elems,
                o_.block_tokens * kvd_, arena_.as<Bf16>(), r, static_cast<int>(kvd_), stream_);
  cuda::AttentionArgs a{q_.as<float>(),
                        arena_.as<Bf16>(),
                        positions_.as<int32_t>(),
                        table_start_.as<int32_t>(),
                        tables_.as<int32_t>(),
                        r,
                        static_cast<int>(c_.num_heads),
                        static_cast<int>(c_.num_kv_heads),
                        static_cast<int>(hd),
                        static_cast<int>(o_.block_tokens),
                        static_cast<int64_t>(BlockBytes() / 2),
                        l * layer_elems,
                        o_.block_tokens * kvd_,
                        max_context,
                        scores_.as<float>(),
                        attn_.as<float>()};
  cuda::Attention(a, stream_);
  cuda::ToBf16(attn_.as<float>(), h_.as<Bf16>(), rows * qd, stream_);
  KVC_RETURN_IF_ERROR(Gemm(h_.as<Bf16>(), rows, qd, D.wo, d, tmp_.as<float>()));
  cuda::Add(x_.as<float>(), tmp_.as<float>(), rows * d, stream_);
  cuda::RmsNorm(x_.as<float>(), D.post_norm.as<float>(), r, static_cast<int>(d), eps, h_.as<Bf16>(),
                nullptr, stream_);
  KVC_RETURN_IF_ERROR(Gemm(h_.as<Bf16>(), rows, d, D.w_gate, in, gate_.as<float>()));
  KVC_RETURN_IF_ERROR(Gemm(h_.as<Bf16>(), rows, d, D.w_up, in, up_.as<float>()));
  cuda::SwiGlu(gate_.as<float>(), up_.as<float>(), rows * in, act_.as<Bf16>(), stream_);
  KVC_RETURN_IF_ERROR(Gemm(act_.as<Bf16>(), rows, in, D.w_down, d, tmp_.as<float>()));
  cuda::Add(x_.as<float>(), tmp_.as<float>(), rows * d, stream_);
  return cuda::CudaStatus(cudaGetLastError(), "kernel launch");
}

}  // namespace

bool CudaCompiledIn() { return true; }

bool CudaDeviceAvailable() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

StatusOr<std::unique_ptr<Engine>> NewCudaEngine(std::shared_ptr<const ModelWeights> weights,
                                                const CudaEngineOptions& options) {
  if (!weights) return absl::InvalidArgumentError("no model weights");
  KVC_RETURN_IF_ERROR(ValidateModelConfig(weights->config));
  if (options.block_tokens <= 0 || options.num_blocks <= 0) {
    return absl::InvalidArgumentError("block_tokens and num_blocks must be positive");
  }
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count <= options.device) {
    return absl::UnavailableError("no CUDA device " + std::to_string(options.device) + " (found " +
                                  std::to_string(count) + ")");
  }
  auto engine = std::make_unique<CudaEngine>(std::move(weights), options);
  KVC_RETURN_IF_ERROR(engine->Init());
  return std::unique_ptr<Engine>(std::move(engine));
}

}  // namespace kvc::engine

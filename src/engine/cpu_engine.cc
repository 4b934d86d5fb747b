// CPU forward pass. Prefill chunks and decode batches share one code path: a list
// of segments (request, first position, token count) stacked into the rows of one
// activation matrix, so the GEMMs batch across requests and attention reads each
// request's own paged KV.
#include "kvc/engine/cpu_engine.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>

#include "src/engine/internal/cpu_ops.h"

namespace kvc::engine {
namespace {

using internal::Linear;

struct Segment {
  Sequence* seq;
  int64_t begin;  // first position computed
  int64_t count;  // positions computed
};

class CpuEngine final : public Engine {
 public:
  CpuEngine(std::shared_ptr<const ModelWeights> w, const CpuEngineOptions& o)
      : w_(std::move(w)),
        c_(w_->config),
        inv_freq_(internal::RopeInverseFrequencies(c_)),
        cache_(KvCacheGeometry{c_.num_layers, o.block_tokens, c_.KvElementsPerTokenPerLayer() * 4,
                               c_.num_kv_heads, c_.head_dim},
               o.num_blocks, o.kv_arena) {}

  const ModelConfig& config() const override { return c_; }
  KvCache& cache() override { return cache_; }
  std::string backend() const override { return "cpu"; }

  StatusOr<std::vector<float>> Prefill(Sequence& seq, std::span<const int32_t> prompt,
                                       int64_t cached_prefix, int64_t chunk_tokens,
                                       const LayerReadyHook& hook) override;
  StatusOr<std::vector<std::vector<float>>> DecodeStep(std::span<Sequence* const> batch) override;

 private:
  // Runs all layers for `segs`; returns logits [segs.size()][vocab] of each last row.
  std::vector<std::vector<float>> Forward(const std::vector<Segment>& segs,
                                          const LayerReadyHook& hook);
  void Layer(int64_t l, const std::vector<Segment>& segs, const std::vector<float>& cos,
             const std::vector<float>& sin, std::vector<float>& x);
  void StoreKv(int64_t l, const std::vector<Segment>& segs, const float* k, const float* v);
  void Attend(int64_t l, const Segment& s, const float* q, float* out);

  const std::shared_ptr<const ModelWeights> w_;
  const ModelConfig& c_;
  const std::vector<double> inv_freq_;
  KvCache cache_;
  std::vector<float> keys_scratch_, values_scratch_, probs_scratch_;  // used by Attend only
};

StatusOr<std::vector<float>> CpuEngine::Prefill(Sequence& seq, std::span<const int32_t> prompt,
                                                int64_t cached_prefix, int64_t chunk_tokens,
                                                const LayerReadyHook& hook) {
  KVC_RETURN_IF_ERROR(
      ValidatePrefill(c_, cache_.geometry().block_tokens, seq, prompt, cached_prefix));
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
    logits = Forward({Segment{&seq, begin, count}}, hook);
    seq.num_computed = begin + count;
  }
  return std::move(logits[0]);
}

StatusOr<std::vector<std::vector<float>>> CpuEngine::DecodeStep(std::span<Sequence* const> batch) {
  KVC_RETURN_IF_ERROR(ValidateDecodeBatch(c_, batch));
  std::vector<Segment> segs;
  for (Sequence* s : batch) {
    KVC_RETURN_IF_ERROR(EnsureBlocks(*s, static_cast<int64_t>(s->tokens.size())));
    segs.push_back({s, s->num_computed, 1});
  }
  auto logits = Forward(segs, nullptr);
  for (Sequence* s : batch) ++s->num_computed;
  return logits;
}

std::vector<std::vector<float>> CpuEngine::Forward(const std::vector<Segment>& segs,
                                                   const LayerReadyHook& hook) {
  const int64_t d = c_.hidden_size, half = c_.head_dim / 2;
  int64_t rows = 0;
  for (const auto& s : segs) rows += s.count;
  std::vector<float> x(static_cast<size_t>(rows * d));
  std::vector<float> cos(static_cast<size_t>(rows * half)), sin(cos.size());
  int64_t r = 0;
  for (const auto& s : segs) {
    for (int64_t j = 0; j < s.count; ++j, ++r) {
      const int32_t tok = s.seq->tokens[static_cast<size_t>(s.begin + j)];
      std::copy_n(w_->embed.data() + tok * d, d, x.data() + r * d);
      internal::RopeTables(inv_freq_, s.begin + j, cos.data() + r * half, sin.data() + r * half);
    }
  }
  for (int64_t l = 0; l < c_.num_layers; ++l) {
    Layer(l, segs, cos, sin, x);
    if (hook) {
      for (const auto& s : segs) hook(l, s.begin, s.begin + s.count);
    }
  }
  // Final norm and LM head for the last row of each segment only.
  std::vector<float> last(segs.size() * static_cast<size_t>(d));
  r = 0;
  for (size_t i = 0; i < segs.size(); ++i) {
    r += segs[i].count;
    internal::RmsNorm(x.data() + (r - 1) * d, 1, d, w_->final_norm.data(), c_.rms_norm_eps,
                      last.data() + i * d);
  }
  std::vector<float> flat(segs.size() * static_cast<size_t>(c_.vocab_size));
  Linear(last.data(), static_cast<int64_t>(segs.size()), d, w_->output_matrix().data(),
         c_.vocab_size, nullptr, flat.data());
  std::vector<std::vector<float>> out(segs.size());
  for (size_t i = 0; i < segs.size(); ++i) {
    out[i].assign(flat.begin() + static_cast<std::ptrdiff_t>(i * c_.vocab_size),
                  flat.begin() + static_cast<std::ptrdiff_t>((i + 1) * c_.vocab_size));
  }
  return out;
}

void CpuEngine::Layer(int64_t l, const std::vector<Segment>& segs, const std::vector<float>& cos,
                      const std::vector<float>& sin, std::vector<float>& x) {
  const LayerWeights& L = w_->layers[static_cast<size_t>(l)];
  const int64_t d = c_.hidden_size, hd = c_.head_dim, qd = c_.num_heads * hd,
                kvd = c_.num_kv_heads * hd, inter = c_.intermediate_size, half = hd / 2;
  const auto rows = static_cast<int64_t>(x.size()) / d;
  std::vector<float> h(x.size()), q(static_cast<size_t>(rows * qd)),
      k(static_cast<size_t>(rows * kvd)), v(k.size()), attn(q.size());
  internal::RmsNorm(x.data(), rows, d, L.input_norm.data(), c_.rms_norm_eps, h.data());
  auto bias = [](const std::vector<float>& b) { return b.empty() ? nullptr : b.data(); };
  Linear(h.data(), rows, d, L.wq.data(), qd, bias(L.bq), q.data());
  Linear(h.data(), rows, d, L.wk.data(), kvd, bias(L.bk), k.data());
  Linear(h.data(), rows, d, L.wv.data(), kvd, bias(L.bv), v.data());
  for (int64_t r = 0; r < rows; ++r) {
    internal::ApplyRope(q.data() + r * qd, c_.num_heads, hd, cos.data() + r * half,
                        sin.data() + r * half);
    internal::ApplyRope(k.data() + r * kvd, c_.num_kv_heads, hd, cos.data() + r * half,
                        sin.data() + r * half);
  }
  StoreKv(l, segs, k.data(), v.data());
  int64_t r = 0;
  for (const auto& s : segs) {
    Attend(l, s, q.data() + r * qd, attn.data() + r * qd);
    r += s.count;
  }
  Linear(attn.data(), rows, qd, L.wo.data(), d, nullptr, h.data());
  for (size_t i = 0; i < x.size(); ++i) x[i] += h[i];
  internal::RmsNorm(x.data(), rows, d, L.post_norm.data(), c_.rms_norm_eps, h.data());
  std::vector<float> gate(static_cast<size_t>(rows * inter)), up(gate.size());
  Linear(h.data(), rows, d, L.w_gate.data(), inter, nullptr, gate.data());
  Linear(h.data(), rows, d, L.w_up.data(), inter, nullptr, up.data());
  internal::SwiGlu(gate.data(), up.data(), rows * inter);
  Linear(gate.data(), rows, inter, L.w_down.data(), d, nullptr, h.data());
  for (size_t i = 0; i < x.size(); ++i) x[i] += h[i];
}

void CpuEngine::StoreKv(int64_t l, const std::vector<Segment>& segs, const float* k,
                        const float* v) {
  const int64_t bt = cache_.geometry().block_tokens, kvd = c_.num_kv_heads * c_.head_dim;
  int64_t r = 0;
  for (const auto& s : segs) {
    for (int64_t j = 0; j < s.count; ++j, ++r) {
      const int64_t pos = s.begin + j;
      const BlockId b = s.seq->blocks[static_cast<size_t>(pos / bt)];
      const int64_t slot = pos % bt;
      std::copy_n(k + r * kvd, kvd, cache_.Keys(b, l) + slot * kvd);
      std::copy_n(v + r * kvd, kvd, cache_.Values(b, l) + slot * kvd);
    }
  }
}

// Causal attention of the segment's rows over positions [0, pos] of its request:
// gather the request's K and V into contiguous [context, kvd] matrices, then two
// GEMMs per head (scores = Q K^T, out = P V) with the causal mask applied in between.
// Measured faster than reading the blocks in place with scalar loops even for decode
// (one row), because the dot products run in BLAS's vector code.
void CpuEngine::Attend(int64_t l, const Segment& s, const float* q, float* out) {
  const int64_t hd = c_.head_dim, heads = c_.num_heads, group = heads / c_.num_kv_heads,
                bt = cache_.geometry().block_tokens, kvd = c_.num_kv_heads * hd;
  const int64_t ctx = s.begin + s.count;  // positions visible to the last row
  // Scratch reused across calls (one thread drives the engine): no per-call zeroing.
  std::vector<float>& keys = keys_scratch_;
  std::vector<float>& values = values_scratch_;
  keys.resize(std::max(keys.size(), static_cast<size_t>(ctx * kvd)));
  values.resize(keys.size());
  for (int64_t t0 = 0; t0 < ctx; t0 += bt) {
    const BlockId b = s.seq->blocks[static_cast<size_t>(t0 / bt)];
    const int64_t n = std::min(bt, ctx - t0);
    std::copy_n(cache_.Keys(b, l), n * kvd, keys.data() + t0 * kvd);
    std::copy_n(cache_.Values(b, l), n * kvd, values.data() + t0 * kvd);
  }
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const auto rows = static_cast<int>(s.count), cols = static_cast<int>(ctx);
  std::vector<float>& p = probs_scratch_;
  p.resize(std::max(p.size(), static_cast<size_t>(s.count * ctx)));
  for (int64_t h = 0; h < heads; ++h) {
    const int64_t g = h / group;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, cols, static_cast<int>(hd), scale,
                q + h * hd, static_cast<int>(heads * hd), keys.data() + g * hd,
                static_cast<int>(kvd), 0.0f, p.data(), cols);
    for (int64_t j = 0; j < s.count; ++j) {
      float* row = p.data() + j * ctx;
      const int64_t visible = s.begin + j + 1;
      const float max_score = *std::max_element(row, row + visible);
      float sum = 0;
      for (int64_t t = 0; t < visible; ++t) sum += (row[t] = std::exp(row[t] - max_score));
      const float inv = 1.0f / sum;
      for (int64_t t = 0; t < visible; ++t) row[t] *= inv;
      std::fill(row + visible, row + ctx, 0.0f);  // causal mask
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, rows, static_cast<int>(hd), cols, 1.0f,
                p.data(), cols, values.data() + g * hd, static_cast<int>(kvd), 0.0f, out + h * hd,
                static_cast<int>(heads * hd));
  }
}

}  // namespace

StatusOr<std::unique_ptr<Engine>> NewCpuEngine(std::shared_ptr<const ModelWeights> weights,
                                               const CpuEngineOptions& options) {
  if (!weights) return absl::InvalidArgumentError("no model weights");
  KVC_RETURN_IF_ERROR(ValidateModelConfig(weights->config));
  if (options.block_tokens <= 0) return absl::InvalidArgumentError("block_tokens must be positive");
  if (options.num_blocks <= 0) return absl::InvalidArgumentError("num_blocks must be positive");
  if (options.threads > 0) openblas_set_num_threads(options.threads);
  return std::unique_ptr<Engine>(new CpuEngine(std::move(weights), options));
}

}  // namespace kvc::engine

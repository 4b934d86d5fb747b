// The CPU engine's logits equal an independent naive reference (plain loops written
// here, sharing no code with the engine) on random small models, within 1e-4 relative.
#include "kvc/engine/cpu_engine.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "kvc/engine/model_weights.h"

namespace kvc::engine {
namespace {

using Mat = std::vector<float>;

// ---- naive reference: whole sequence at once, double accumulation ----------------
std::vector<double> RefNorm(const std::vector<double>& x, const Mat& w, double eps) {
  double ss = 0;
  for (double v : x) ss += v * v;
  const double inv = 1.0 / std::sqrt(ss / x.size() + eps);
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) y[i] = x[i] * inv * w[i];
  return y;
}

std::vector<double> RefMatVec(const Mat& w, const Mat& b, const std::vector<double>& x,
                              size_t out) {
  std::vector<double> y(out, 0.0);
  for (size_t o = 0; o < out; ++o) {
    for (size_t i = 0; i < x.size(); ++i) y[o] += w[o * x.size() + i] * x[i];
    if (!b.empty()) y[o] += b[o];
  }
  return y;
}

double RefFreq(const ModelConfig& c, size_t i) {
  double f = std::pow(c.rope_theta, -2.0 * i / c.head_dim);
  if (!c.rope_scaling.enabled) return f;
  const auto& s = c.rope_scaling;
  const double wl = 2 * std::numbers::pi / f, orig = s.original_max_position;
  if (wl < orig / s.high_freq_factor) return f;
  if (wl > orig / s.low_freq_factor) return f / s.factor;
  const double smooth = (orig / wl - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
  return (1 - smooth) * f / s.factor + smooth * f;
}

void RefRope(const ModelConfig& c, std::vector<double>& v, size_t heads, size_t pos) {
  const size_t hd = c.head_dim, half = hd / 2;
  for (size_t h = 0; h < heads; ++h) {
    for (size_t i = 0; i < half; ++i) {
      const double a = pos * RefFreq(c, i);
      const double x1 = v[h * hd + i], x2 = v[h * hd + i + half];
      v[h * hd + i] = x1 * std::cos(a) - x2 * std::sin(a);
      v[h * hd + i + half] = x2 * std::cos(a) + x1 * std::sin(a);
    }
  }
}

// Logits of the last token of `tokens`.
std::vector<double> RefForward(const ModelWeights& w, const std::vector<int32_t>& tokens) {
  const ModelConfig& c = w.config;
  const size_t n = tokens.size(), d = c.hidden_size, hd = c.head_dim, H = c.num_heads,
               KV = c.num_kv_heads, I = c.intermediate_size;
  std::vector<std::vector<double>> x(n, std::vector<double>(d));
  for (size_t t = 0; t < n; ++t)
    for (size_t i = 0; i < d; ++i) x[t][i] = w.embed[tokens[t] * d + i];
  for (const LayerWeights& L : w.layers) {
    std::vector<std::vector<double>> q(n), k(n), v(n);
    for (size_t t = 0; t < n; ++t) {
      auto h = RefNorm(x[t], L.input_norm, c.rms_norm_eps);
      q[t] = RefMatVec(L.wq, L.bq, h, H * hd);
      k[t] = RefMatVec(L.wk, L.bk, h, KV * hd);
      v[t] = RefMatVec(L.wv, L.bv, h, KV * hd);
      RefRope(c, q[t], H, t);
      RefRope(c, k[t], KV, t);
    }
    for (size_t t = 0; t < n; ++t) {
      std::vector<double> attn(H * hd, 0.0);
      for (size_t h = 0; h < H; ++h) {
        const size_t g = h / (H / KV);
        std::vector<double> s(t + 1);
        double mx = -1e300, sum = 0;
        for (size_t u = 0; u <= t; ++u) {
          s[u] = 0;
          for (size_t i = 0; i < hd; ++i) s[u] += q[t][h * hd + i] * k[u][g * hd + i];
          s[u] /= std::sqrt(static_cast<double>(hd));
          mx = std::max(mx, s[u]);
        }
        for (size_t u = 0; u <= t; ++u) sum += (s[u] = std::exp(s[u] - mx));
        for (size_t u = 0; u <= t; ++u)
          for (size_t i = 0; i < hd; ++i) attn[h * hd + i] += s[u] / sum * v[u][g * hd + i];
      }
      auto o = RefMatVec(L.wo, {}, attn, d);
      for (size_t i = 0; i < d; ++i) x[t][i] += o[i];
      auto h2 = RefNorm(x[t], L.post_norm, c.rms_norm_eps);
      auto gate = RefMatVec(L.w_gate, {}, h2, I);
      auto up = RefMatVec(L.w_up, {}, h2, I);
      for (size_t i = 0; i < I; ++i) gate[i] = gate[i] / (1 + std::exp(-gate[i])) * up[i];
      auto down = RefMatVec(L.w_down, {}, gate, d);
      for (size_t i = 0; i < d; ++i) x[t][i] += down[i];
    }
  }
  auto last = RefNorm(x[n - 1], w.final_norm, c.rms_norm_eps);
  return RefMatVec(w.output_matrix(), {}, last, c.vocab_size);
}

// ---- test cases --------------------------------------------------------------------
ModelConfig SmallConfig() {
  ModelConfig c;
  c.vocab_size = 61;
  c.hidden_size = 48;
  c.intermediate_size = 80;
  c.num_layers = 2;
  c.num_heads = 6;
  c.num_kv_heads = 2;
  c.head_dim = 8;
  c.rope_theta = 10000;
  c.rms_norm_eps = 1e-5;
  return c;
}

double MaxRelError(const std::vector<float>& got, const std::vector<double>& want) {
  double max_diff = 0, max_ref = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    max_diff = std::max(max_diff, std::abs(got[i] - want[i]));
    max_ref = std::max(max_ref, std::abs(want[i]));
  }
  return max_diff / max_ref;
}

void ExpectMatchesReference(const ModelConfig& config, uint64_t seed) {
  std::shared_ptr<const ModelWeights> w = RandomModelWeights(config, seed);
  auto engine = NewCpuEngine(w, CpuEngineOptions{64, 4, 1});
  ASSERT_TRUE(engine.ok()) << engine.status();
  std::vector<int32_t> tokens;
  for (int i = 0; i < 13; ++i)
    tokens.push_back(static_cast<int32_t>((i * 17 + seed) % config.vocab_size));
  Sequence seq;
  // Chunks of 9 then 4 rows: the second chunk attends over the first one's cached KV.
  auto logits = (*engine)->Prefill(seq, tokens, 0, 9);
  ASSERT_TRUE(logits.ok()) << logits.status();
  EXPECT_LT(MaxRelError(*logits, RefForward(*w, tokens)), 1e-4);
  // Two decode steps continue the same sequence.
  for (int step = 0; step < 2; ++step) {
    seq.tokens.push_back(static_cast<int32_t>((step * 5 + 1) % config.vocab_size));
    Sequence* batch[] = {&seq};
    auto dl = (*engine)->DecodeStep(batch);
    ASSERT_TRUE(dl.ok()) << dl.status();
    EXPECT_LT(MaxRelError((*dl)[0], RefForward(*w, seq.tokens)), 1e-4);
  }
}

// Plain Llama with GQA and untied embeddings.
TEST(CpuEngineTest, MatchesNaiveReferenceLlamaGqa) { ExpectMatchesReference(SmallConfig(), 1); }

// Qwen2-style q/k/v bias with tied embeddings.
TEST(CpuEngineTest, MatchesNaiveReferenceWithBiasAndTiedEmbeddings) {
  ModelConfig c = SmallConfig();
  c.model_type = "qwen2";
  c.attention_bias = true;
  c.tie_word_embeddings = true;
  c.num_kv_heads = 3;
  ExpectMatchesReference(c, 2);
}

// Llama-3 RoPE scaling (factors chosen so all three frequency bands occur).
TEST(CpuEngineTest, MatchesNaiveReferenceWithLlama3RopeScaling) {
  ModelConfig c = SmallConfig();
  c.rope_theta = 500000;
  c.rope_scaling = RopeScaling{true, 8.0, 1.0, 4.0, 512};  // wavelengths 6, 167, 4443, 118k
  c.num_kv_heads = 6;                                      // no GQA
  ExpectMatchesReference(c, 3);
}

}  // namespace
}  // namespace kvc::engine

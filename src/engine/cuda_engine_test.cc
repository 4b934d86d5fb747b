// The CUDA backend against the CPU backend: same logits within bf16 tolerance, same
// greedy tokens, and KV blocks staged out and back in reproduce the output. Skips
// without a GPU (and in builds without CUDA).
#include "kvc/engine/cuda_engine.h"

#include <gtest/gtest.h>

#include "kvc/engine/cpu_engine.h"
#include "kvc/engine/generator.h"
#include "kvc/engine/model_weights.h"
#include "kvc/engine/tiny_model.h"

namespace kvc::engine {
namespace {

// Weights rounded to bf16, so both backends start from the same numbers.
std::shared_ptr<const ModelWeights> Bf16Weights(ModelConfig config) {
  auto w = RandomModelWeights(config, 11);
  auto round = [](std::vector<float>& v) {
    for (float& x : v) x = BF16ToFloat(FloatToBF16(x));
  };
  round(w->embed);
  round(w->lm_head);
  for (auto& L : w->layers) {
    for (auto* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) round(*m);
  }
  return w;
}

double RelDiff(const std::vector<float>& a, const std::vector<float>& b) {
  double diff = 0, ref = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, static_cast<double>(std::abs(a[i] - b[i])));
    ref = std::max(ref, static_cast<double>(std::abs(b[i])));
  }
  return diff / ref;
}

// Without the backend compiled in, NewCudaEngine says so instead of crashing.
TEST(CudaEngineTest, ReportsWhenUnavailable) {
  if (CudaDeviceAvailable()) GTEST_SKIP() << "a GPU is present";
  auto e = NewCudaEngine(Bf16Weights(TinyModelConfig()), {});
  ASSERT_FALSE(e.ok());
  EXPECT_TRUE(e.status().code() == absl::StatusCode::kUnimplemented ||
              e.status().code() == absl::StatusCode::kUnavailable);
}

// Prefill and decode logits match the CPU backend within bf16 tolerance, for a
// Llama config and a Qwen2-style one with q/k/v bias.
TEST(CudaEngineTest, LogitsMatchCpuBackend) {
  if (!CudaDeviceAvailable()) GTEST_SKIP() << "no CUDA device";
  ModelConfig qwen = TinyModelConfig();
  qwen.model_type = "qwen2";
  qwen.attention_bias = true;
  qwen.tie_word_embeddings = false;
  for (const ModelConfig& config : {TinyModelConfig(), qwen}) {
    auto w = Bf16Weights(config);
    auto cpu = NewCpuEngine(w, CpuEngineOptions{64, 16, 0});
    auto gpu = NewCudaEngine(w, CudaEngineOptions{64, 16, 0});
    ASSERT_TRUE(cpu.ok() && gpu.ok()) << gpu.status();
    std::vector<int32_t> prompt;
    for (int i = 0; i < 50; ++i) prompt.push_back((i * 29 + 5) % 256);
    Sequence a, b;
    auto la = (*cpu)->Prefill(a, prompt, 0, 16);
    auto lb = (*gpu)->Prefill(b, prompt, 0, 16);
    ASSERT_TRUE(la.ok() && lb.ok()) << lb.status();
    EXPECT_LT(RelDiff(*lb, *la), 3e-2);
    a.tokens.push_back(7);
    b.tokens.push_back(7);
    Sequence* ba[] = {&a};
    Sequence* bb[] = {&b};
    auto da = (*cpu)->DecodeStep(ba);
    auto db = (*gpu)->DecodeStep(bb);
    ASSERT_TRUE(da.ok() && db.ok()) << db.status();
    EXPECT_LT(RelDiff((*db)[0], (*da)[0]), 3e-2);
  }
}

// Blocks staged to the host, exported, imported into a fresh CUDA engine and staged
// back give the same next-token logits as the original engine.
TEST(CudaEngineTest, StagedExportImportReproducesLogits) {
  if (!CudaDeviceAvailable()) GTEST_SKIP() << "no CUDA device";
  auto w = Bf16Weights(TinyModelConfig());
  auto src = NewCudaEngine(w, CudaEngineOptions{32, 16, 0});
  auto dst = NewCudaEngine(w, CudaEngineOptions{32, 16, 0});
  ASSERT_TRUE(src.ok() && dst.ok());
  std::vector<int32_t> prompt(40, 3);
  Sequence s;
  ASSERT_TRUE((*src)->Prefill(s, prompt, 0, 0).ok());
  Sequence moved = s;
  moved.blocks.clear();
  for (BlockId b : s.blocks) {
    std::vector<uint8_t> bytes;
    ASSERT_TRUE((*src)->StageBlockToHost(b).ok());
    ASSERT_TRUE((*src)->cache().ExportBlock(b, &bytes).ok());
    auto id = (*dst)->cache().Allocate();
    ASSERT_TRUE(id.ok());
    ASSERT_TRUE((*dst)->cache().ImportBlock(*id, bytes).ok());
    ASSERT_TRUE((*dst)->StageBlockToDevice(*id).ok());
    moved.blocks.push_back(*id);
  }
  s.tokens.push_back(9);
  moved.tokens.push_back(9);
  Sequence* b1[] = {&s};
  Sequence* b2[] = {&moved};
  auto l1 = (*src)->DecodeStep(b1);
  auto l2 = (*dst)->DecodeStep(b2);
  ASSERT_TRUE(l1.ok() && l2.ok());
  EXPECT_EQ((*l1)[0], (*l2)[0]);
}

}  // namespace
}  // namespace kvc::engine

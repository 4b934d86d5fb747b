// Greedy output is identical however the KV got there: chunked prefill, a reused
// prefix, blocks exported and imported into a fresh cache, alone or in a mixed batch.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "kvc/engine/cpu_engine.h"
#include "kvc/engine/generator.h"
#include "kvc/engine/model_weights.h"
#include "kvc/engine/tiny_model.h"

namespace kvc::engine {
namespace {

constexpr int kNewTokens = 12;

class ConsistencyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static const std::shared_ptr<const ModelWeights> shared =
        RandomModelWeights(TinyModelConfig(), 7);
    weights_ = shared;  // generated once: ~3M random numbers
    engine_ = NewEngineOrDie();
    for (int i = 0; i < 70; ++i) prompt_.push_back((i * 37 + 11) % 256);
  }
  std::unique_ptr<Engine> NewEngineOrDie() {
    auto e = NewCpuEngine(weights_, CpuEngineOptions{128, 16, 1});
    EXPECT_TRUE(e.ok()) << e.status();
    return std::move(e).value();
  }
  // Greedy continuation of a sequence whose prefill returned `logits`.
  std::vector<int32_t> DecodeGreedy(Engine& engine, Sequence& seq, std::vector<float> logits) {
    std::vector<int32_t> out;
    for (int i = 0; i < kNewTokens; ++i) {
      out.push_back(ArgMax(logits));
      seq.tokens.push_back(out.back());
      Sequence* batch[] = {&seq};
      auto next = engine.DecodeStep(batch);
      EXPECT_TRUE(next.ok()) << next.status();
      logits = std::move((*next)[0]);
    }
    return out;
  }
  std::vector<int32_t> Baseline() {
    SamplingOptions so;
    so.max_tokens = kNewTokens;
    so.ignore_eos = true;
    auto r = Generate(*engine_, nullptr, prompt_, so);
    EXPECT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(engine_->cache().free_blocks(), engine_->cache().num_blocks());  // all freed
    // The comparisons below mean something only if the output is not one repeated token.
    EXPECT_GE(std::set<int32_t>(r->token_ids.begin(), r->token_ids.end()).size(), 3u);
    return r->token_ids;
  }

  std::shared_ptr<const ModelWeights> weights_;
  std::unique_ptr<Engine> engine_;
  std::vector<int32_t> prompt_;
};

// Prefill in chunks of 1, 7 and 64 tokens yields the unchunked greedy output.
TEST_F(ConsistencyTest, ChunkSizesGiveIdenticalGreedyOutput) {
  const auto want = Baseline();
  for (int64_t chunk : {1, 7, 64}) {
    SamplingOptions so;
    so.max_tokens = kNewTokens;
    so.ignore_eos = true;
    auto r = Generate(*engine_, nullptr, prompt_, so, chunk);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->token_ids, want) << "chunk " << chunk;
  }
}

// A second request that imports the first one's full prefix blocks and computes only
// the rest produces the same output as computing everything.
TEST_F(ConsistencyTest, ReusedPrefixGivesIdenticalGreedyOutput) {
  const auto want = Baseline();
  Sequence first;
  ASSERT_TRUE(engine_->Prefill(first, prompt_, 0, 0).ok());
  std::vector<std::vector<uint8_t>> exported(4);  // 4 full blocks = 64 tokens
  for (int b = 0; b < 4; ++b)
    ASSERT_TRUE(engine_->cache().ExportBlock(first.blocks[b], &exported[b]).ok());
  engine_->Release(first);

  Sequence second;
  for (const auto& bytes : exported) {
    auto id = engine_->cache().Allocate();
    ASSERT_TRUE(id.ok());
    ASSERT_TRUE(engine_->cache().ImportBlock(*id, bytes).ok());
    second.blocks.push_back(*id);
  }
  std::vector<std::pair<int64_t, int64_t>> computed;
  auto logits = engine_->Prefill(second, prompt_, 64, 0, [&](int64_t layer, int64_t b, int64_t e) {
    if (layer == 0) computed.push_back({b, e});
  });
  ASSERT_TRUE(logits.ok()) << logits.status();
  EXPECT_EQ(computed, (std::vector<std::pair<int64_t, int64_t>>{{64, 70}}));  // only the tail
  EXPECT_EQ(DecodeGreedy(*engine_, second, *logits), want);
  engine_->Release(second);
}

// A prompt whose every block is cached recomputes only its last token and gets the
// same logits as a full prefill.
TEST_F(ConsistencyTest, FullyCachedPromptRecomputesOnlyTheLastToken) {
  const std::vector<int32_t> prompt(prompt_.begin(), prompt_.begin() + 64);  // 4 full blocks
  Sequence first;
  auto want = engine_->Prefill(first, prompt, 0, 0);
  ASSERT_TRUE(want.ok());
  Sequence second;
  for (BlockId b : first.blocks) {
    std::vector<uint8_t> bytes;
    ASSERT_TRUE(engine_->cache().ExportBlock(b, &bytes).ok());
    auto id = engine_->cache().Allocate();
    ASSERT_TRUE(id.ok());
    ASSERT_TRUE(engine_->cache().ImportBlock(*id, bytes).ok());
    second.blocks.push_back(*id);
  }
  std::vector<std::pair<int64_t, int64_t>> computed;
  auto got = engine_->Prefill(second, prompt, 64, 0, [&](int64_t l, int64_t b, int64_t e) {
    if (l == 0) computed.push_back({b, e});
  });
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(computed, (std::vector<std::pair<int64_t, int64_t>>{{63, 64}}));
  EXPECT_EQ(ArgMax(*got), ArgMax(*want));
  double max_diff = 0;
  for (size_t i = 0; i < got->size(); ++i)
    max_diff = std::max(max_diff, double(std::abs((*got)[i] - (*want)[i])));
  EXPECT_LT(max_diff, 1e-3);
  engine_->Release(first);
  engine_->Release(second);
}

// Every block exported after prefill and imported into a fresh engine's cache lets
// that engine continue decoding with the same output.
TEST_F(ConsistencyTest, ExportImportIntoFreshCacheGivesIdenticalOutput) {
  const auto want = Baseline();
  Sequence seq;
  auto logits = engine_->Prefill(seq, prompt_, 0, 0);
  ASSERT_TRUE(logits.ok());
  auto fresh = NewEngineOrDie();
  Sequence moved;
  moved.tokens = seq.tokens;
  moved.num_computed = seq.num_computed;
  for (BlockId b : seq.blocks) {
    std::vector<uint8_t> bytes;
    ASSERT_TRUE(engine_->cache().ExportBlock(b, &bytes).ok());
    ASSERT_EQ(bytes.size(), fresh->cache().geometry().block_bytes());
    // Fill the fresh block layer by layer, as a remote writer streaming layers would.
    auto id = fresh->cache().Allocate();
    ASSERT_TRUE(id.ok());
    const size_t lb = fresh->cache().geometry().layer_bytes();
    for (int64_t l = 0; l < fresh->config().num_layers; ++l) {
      ASSERT_TRUE(fresh->cache().ImportLayer(*id, l, {bytes.data() + l * lb, lb}).ok());
    }
    moved.blocks.push_back(*id);
  }
  engine_->Release(seq);
  EXPECT_EQ(DecodeGreedy(*fresh, moved, *logits), want);
}

// One request decoded alone equals the same request inside a batch of mixed lengths.
TEST_F(ConsistencyTest, AloneEqualsInsideMixedBatch) {
  const auto want = Baseline();
  std::vector<std::vector<int32_t>> prompts = {{1, 2, 3}, prompt_, {}, {5}};
  for (int i = 0; i < 150; ++i) prompts[2].push_back((i * 13) % 256);
  SamplingOptions so;
  so.max_tokens = kNewTokens;
  so.ignore_eos = true;
  auto rs = GenerateBatch(*engine_, nullptr, prompts, so);
  ASSERT_TRUE(rs.ok()) << rs.status();
  EXPECT_EQ((*rs)[1].token_ids, want);
  // And the short ones match their own solo runs.
  for (size_t i : {0u, 2u, 3u}) {
    auto solo = Generate(*engine_, nullptr, prompts[i], so);
    ASSERT_TRUE(solo.ok());
    EXPECT_EQ((*rs)[i].token_ids, solo->token_ids) << "prompt " << i;
  }
}

// The layer hook fires once per layer per chunk, layers in order, chunks in order.
TEST_F(ConsistencyTest, LayerHookReportsEveryLayerOfEveryChunk) {
  Sequence seq;
  std::vector<std::tuple<int64_t, int64_t, int64_t>> calls;
  ASSERT_TRUE(engine_
                  ->Prefill(seq, prompt_, 0, 32,
                            [&](int64_t l, int64_t b, int64_t e) { calls.emplace_back(l, b, e); })
                  .ok());
  std::vector<std::tuple<int64_t, int64_t, int64_t>> want;
  for (auto [b, e] : {std::pair{0, 32}, {32, 64}, {64, 70}})
    for (int64_t l = 0; l < 4; ++l) want.emplace_back(l, b, e);
  EXPECT_EQ(calls, want);
  engine_->Release(seq);
}

// When the hook runs for (layer l, chunk), layer l's KV of the chunk is in the cache
// and layer l+1's is not yet: a streamer can ship layer l while l+1 computes.
TEST_F(ConsistencyTest, HookSeesLayerReadyAndNextLayerNotYet) {
  auto fresh = NewEngineOrDie();  // zero-filled cache
  Sequence seq;
  const int64_t kvd = fresh->config().num_kv_heads * fresh->config().head_dim;
  int checked = 0;
  auto nonzero = [&](int64_t layer, int64_t pos) {
    const float* k = fresh->cache().Keys(seq.blocks[pos / 16], layer) + (pos % 16) * kvd;
    return std::any_of(k, k + kvd, [](float v) { return v != 0.0f; });
  };
  ASSERT_TRUE(fresh
                  ->Prefill(seq, prompt_, 0, 32,
                            [&](int64_t l, int64_t b, int64_t e) {
                              EXPECT_TRUE(nonzero(l, b) && nonzero(l, e - 1)) << "layer " << l;
                              if (l + 1 < fresh->config().num_layers) {
                                EXPECT_FALSE(nonzero(l + 1, b) || nonzero(l + 1, e - 1))
                                    << "layer " << l + 1;
                              }
                              ++checked;
                            })
                  .ok());
  EXPECT_EQ(checked, 3 * 4);
}

// Bad input is refused with a clear error and leaves the cache untouched.
TEST_F(ConsistencyTest, BadInputIsRejectedWithoutSideEffects) {
  const int64_t free_before = engine_->cache().free_blocks();
  Sequence seq;
  EXPECT_FALSE(engine_->Prefill(seq, {}, 0, 0).ok());
  std::vector<int32_t> bad = {1, 2, 999};
  auto s = engine_->Prefill(seq, bad, 0, 0);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.status().message()).find("999"), std::string::npos);
  EXPECT_FALSE(engine_->Prefill(seq, prompt_, 5, 0).ok());          // not block aligned
  EXPECT_FALSE(engine_->Prefill(seq, prompt_, 16, 0).ok());         // no blocks imported
  auto small = NewCpuEngine(weights_, CpuEngineOptions{2, 16, 1});  // 32 tokens of room
  ASSERT_TRUE(small.ok());
  auto full = (*small)->Prefill(seq, prompt_, 0, 0);
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(full.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ((*small)->cache().free_blocks(), 2);
  EXPECT_TRUE(seq.blocks.empty());
  Sequence* batch[] = {&seq};
  EXPECT_FALSE(engine_->DecodeStep(batch).ok());  // nothing prefilled
  EXPECT_EQ(engine_->cache().free_blocks(), free_before);
  std::vector<uint8_t> wrong(7);
  auto id = engine_->cache().Allocate();
  ASSERT_TRUE(id.ok());
  EXPECT_FALSE(engine_->cache().ImportBlock(*id, wrong).ok());
  EXPECT_FALSE(engine_->cache().ImportBlock(*id + 1, wrong).ok());  // not allocated
}

// Sampling: same seed same tokens; top_k = 1 is greedy; stop ids and strings end early.
TEST_F(ConsistencyTest, SamplingIsSeededAndStopsWhereAsked) {
  const auto greedy = Baseline();
  SamplingOptions so;
  so.max_tokens = kNewTokens;
  so.ignore_eos = true;
  so.temperature = 1.0;
  so.top_p = 0.9;
  so.seed = 42;
  auto a = Generate(*engine_, nullptr, prompt_, so);
  auto b = Generate(*engine_, nullptr, prompt_, so);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->token_ids, b->token_ids);
  so.seed = 43;
  auto c = Generate(*engine_, nullptr, prompt_, so);
  EXPECT_NE(a->token_ids, c->token_ids);
  so.top_k = 1;
  auto k1 = Generate(*engine_, nullptr, prompt_, so);
  EXPECT_EQ(k1->token_ids, greedy);
  SamplingOptions stop;
  stop.max_tokens = kNewTokens;
  stop.ignore_eos = true;
  stop.stop_token_ids = {greedy[3]};
  auto s = Generate(*engine_, nullptr, prompt_, stop);
  const size_t first = std::find(greedy.begin(), greedy.end(), greedy[3]) - greedy.begin();
  EXPECT_EQ(s->token_ids.size(), first + 1);
  EXPECT_EQ(s->finish_reason, "stop");
  SamplingOptions bad_p;
  bad_p.top_p = 0;
  EXPECT_FALSE(ValidateSamplingOptions(bad_p).ok());
}

}  // namespace
}  // namespace kvc::engine

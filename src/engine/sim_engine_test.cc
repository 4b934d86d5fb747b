// The simulated backend waits the paper's cost-model time (checked against values
// computed by hand from the published parameters), scales with time_scale, emits
// deterministic tokens and fills real KV bytes.
#include "kvc/engine/sim_engine.h"

#include <gtest/gtest.h>

#include "kvc/engine/generator.h"

namespace kvc::engine {
namespace {

struct Recorder {
  std::vector<double> waits;
  double Total() const {
    double t = 0;
    for (double w : waits) t += w;
    return t;
  }
};

std::unique_ptr<Engine> MakeSim(Recorder* rec, const std::string& preset, double time_scale) {
  SimEngineOptions o;
  o.preset = preset;
  o.time_scale = time_scale;
  o.vocab_size = 1000;
  o.num_blocks = 64;
  o.sleep = [rec](double s) { rec->waits.push_back(s); };
  auto e = NewSimEngine(o);
  EXPECT_TRUE(e.ok()) << e.status();
  return std::move(e).value();
}

std::vector<int32_t> Prompt(int n) {
  std::vector<int32_t> p;
  for (int i = 0; i < n; ++i) p.push_back(i % 1000);
  return p;
}

// Shape 1: 1000 new tokens on 8xA800. 80*(4*1000^2*8192 + 22*1000*8192^2) FLOPs over
// 8*312e12*0.5 FLOP/s = 0.0967412... s. Decode of 4 requests of 1001 tokens:
// (70.6e9*2 + 327680*4004) bytes / (8*2.039e12*0.8) B/s = 0.0109208 s.
TEST(SimEngineTest, A800StepTimesMatchHandComputedValues) {
  Recorder rec;
  auto e = MakeSim(&rec, "llama3-70b-a800x8", 1.0);
  std::vector<Sequence> seqs(4);
  for (auto& s : seqs) ASSERT_TRUE(e->Prefill(s, Prompt(1000), 0, 0).ok());
  EXPECT_NEAR(rec.Total() / 4, 0.09674121846153846, 1e-9);
  EXPECT_EQ(rec.waits.size(), 4u * 80u);  // one wait per layer, so the hook can stream
  rec.waits.clear();
  std::vector<Sequence*> batch;
  for (auto& s : seqs) {
    s.tokens.push_back(7);
    batch.push_back(&s);
  }
  ASSERT_TRUE(e->DecodeStep(batch).ok());
  ASSERT_EQ(rec.waits.size(), 1u);
  EXPECT_NEAR(rec.waits[0], 0.010920796861206474, 1e-12);
}

// Shape 2: 4096 tokens with 2048 cached, in chunks of 1024, on 8xH800:
// 80*(4*(4096^2-2048^2)*8192 + 22*2048*8192^2) / (8*989e12*0.5) = 0.0694838 s, the
// same total as one unchunked prefill; time_scale 0.01 scales it 100x down.
TEST(SimEngineTest, H800PrefixReuseChunkedAndScaled) {
  Recorder rec;
  auto e = MakeSim(&rec, "llama3-70b-h800x8", 0.01);
  Sequence s;
  for (int b = 0; b < 4; ++b) s.blocks.push_back(*e->cache().Allocate());  // 4 x 512 cached
  int hooks = 0;
  ASSERT_TRUE(
      e->Prefill(s, Prompt(4096), 2048, 1024, [&](int64_t, int64_t, int64_t) { ++hooks; }).ok());
  EXPECT_NEAR(rec.Total(), 0.06948379851971688 * 0.01, 1e-12);
  EXPECT_EQ(hooks, 2 * 80);
  // Decode of 2 requests of 3001 tokens on H800: (141.2e9 + 327680*6002)/(8*3.35e12*0.8).
  rec.waits.clear();
  std::vector<Sequence> two(2);
  for (auto& t : two) {
    ASSERT_TRUE(e->Prefill(t, Prompt(3000), 0, 0).ok());
    t.tokens.push_back(1);
  }
  rec.waits.clear();
  std::vector<Sequence*> batch = {&two[0], &two[1]};
  ASSERT_TRUE(e->DecodeStep(batch).ok());
  EXPECT_NEAR(rec.waits[0], 0.006677552955223881 * 0.01, 1e-14);
}

// Same prompt -> same tokens, and the KV bytes written are identical and non-zero.
TEST(SimEngineTest, DeterministicTokensAndRealKvBytes) {
  Recorder rec;
  auto e = MakeSim(&rec, "llama3-70b-a800x8", 0.0);
  SamplingOptions so;
  so.max_tokens = 6;
  auto a = Generate(*e, nullptr, Prompt(700), so);
  auto b = Generate(*e, nullptr, Prompt(700), so, 100);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->token_ids, b->token_ids);
  EXPECT_TRUE(rec.waits.empty());  // time_scale 0: no waiting at all
  Sequence s1, s2;
  ASSERT_TRUE(e->Prefill(s1, Prompt(600), 0, 0).ok());
  ASSERT_TRUE(e->Prefill(s2, Prompt(600), 0, 7).ok());
  std::vector<uint8_t> x, y;
  ASSERT_TRUE(e->cache().ExportBlock(s1.blocks[0], &x).ok());
  ASSERT_TRUE(e->cache().ExportBlock(s2.blocks[0], &y).ok());
  EXPECT_EQ(x.size(), 512u * 1280u);
  EXPECT_EQ(x, y);
  EXPECT_NE(std::count(x.begin(), x.end(), 0), static_cast<std::ptrdiff_t>(x.size()));
}

// Bad options are refused with the field named.
TEST(SimEngineTest, RejectsBadOptions) {
  SimEngineOptions o;
  o.preset = "gpt5-on-a-toaster";
  EXPECT_FALSE(NewSimEngine(o).ok());
  o = SimEngineOptions{};
  o.kv_bytes_per_token = 1000;  // not a multiple of 80 layers
  auto e = NewSimEngine(o);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(std::string(e.status().message()).find("kv_bytes_per_token"), std::string::npos);
}

}  // namespace
}  // namespace kvc::engine

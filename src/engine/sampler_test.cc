// Sampling obeys its filters and its seed on hand-made logits.
#include "kvc/engine/sampler.h"

#include <gtest/gtest.h>

#include <map>

namespace kvc::engine {
namespace {

std::map<int32_t, int> Histogram(const SamplingOptions& o, const std::vector<float>& logits,
                                 int n) {
  Sampler s(o);
  std::map<int32_t, int> h;
  for (int i = 0; i < n; ++i) ++h[s.Sample(logits)];
  return h;
}

const std::vector<float> kLogits = {1.0f, 3.0f, 2.9f, 0.5f, 2.0f};

// Greedy takes the maximum, the lowest id on ties.
TEST(SamplerTest, GreedyTakesArgMax) {
  EXPECT_EQ(Sampler(SamplingOptions{}).Sample(kLogits), 1);
  EXPECT_EQ(ArgMax(std::vector<float>{2, 5, 5}), 1);
}

// top_k keeps only the k best; top_p keeps the smallest nucleus reaching p.
TEST(SamplerTest, TopKAndTopPRestrictCandidates) {
  SamplingOptions o;
  o.temperature = 1.0;
  o.top_k = 2;
  auto h = Histogram(o, kLogits, 2000);
  EXPECT_EQ(h.size(), 2u);
  EXPECT_GT(h[1], 0);
  EXPECT_GT(h[2], 0);
  o.top_k = 0;
  o.top_p = 0.3;  // token 1 alone has p ~ 0.39 > 0.3
  h = Histogram(o, kLogits, 500);
  EXPECT_EQ(h.size(), 1u);
  EXPECT_EQ(h.begin()->first, 1);
  o.top_p = 1.0;
  h = Histogram(o, kLogits, 4000);
  EXPECT_EQ(h.size(), 5u);  // every token reachable
  EXPECT_GT(h[1], h[0]);    // and more likely ones come up more often
}

// Same seed, same sequence; another seed, another sequence; low temperature ~ greedy.
TEST(SamplerTest, SeedDeterminesSequence) {
  SamplingOptions o;
  o.temperature = 1.5;
  o.seed = 9;
  Sampler a(o), b(o);
  std::vector<int32_t> xa, xb, xc;
  o.seed = 10;
  Sampler c(o);
  for (int i = 0; i < 50; ++i) {
    xa.push_back(a.Sample(kLogits));
    xb.push_back(b.Sample(kLogits));
    xc.push_back(c.Sample(kLogits));
  }
  EXPECT_EQ(xa, xb);
  EXPECT_NE(xa, xc);
  o.temperature = 1e-3;
  for (int i = 0; i < 20; ++i) EXPECT_EQ(Sampler(o).Sample(kLogits), 1);
}

// Out-of-range options are refused, naming the field.
TEST(SamplerTest, ValidationNamesTheField) {
  SamplingOptions o;
  o.temperature = -1;
  EXPECT_NE(std::string(ValidateSamplingOptions(o).message()).find("temperature"),
            std::string::npos);
  o = SamplingOptions{};
  o.top_k = -2;
  EXPECT_NE(std::string(ValidateSamplingOptions(o).message()).find("top_k"), std::string::npos);
  o = SamplingOptions{};
  o.max_tokens = 0;
  EXPECT_NE(std::string(ValidateSamplingOptions(o).message()).find("max_tokens"),
            std::string::npos);
  EXPECT_TRUE(ValidateSamplingOptions(SamplingOptions{}).ok());
}

// SkipSample continues a seeded sequence as if the skipped token had been sampled here.
TEST(SamplerTest, SkipSampleContinuesTheSeededSequence) {
  SamplingOptions o;
  o.temperature = 1.0;
  o.seed = 42;
  Sampler full(o);
  Sampler skipped(o);
  full.Sample(kLogits);
  skipped.SkipSample();
  for (int i = 0; i < 20; ++i) EXPECT_EQ(full.Sample(kLogits), skipped.Sample(kLogits));
  o.temperature = 0;  // greedy draws nothing: skipping changes nothing
  Sampler greedy(o);
  greedy.SkipSample();
  EXPECT_EQ(greedy.Sample(kLogits), ArgMax(kLogits));
}

}  // namespace
}  // namespace kvc::engine

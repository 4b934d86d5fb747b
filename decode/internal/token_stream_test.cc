// TokenStream continues engine::RequestStream after the first token: same tokens
// (greedy and seeded), same stop and length decisions; SamplingParams conversion.
#include "decode/internal/token_stream.h"

#include <gtest/gtest.h>

#include <random>

#include "kvc/common/status.h"
#include "kvc/engine/generator.h"

namespace kvc::decode::internal {
namespace {

std::vector<float> RandomLogits(std::mt19937& rng, int vocab) {
  std::normal_distribution<float> d(0, 2);
  std::vector<float> l(static_cast<size_t>(vocab));
  for (float& x : l) x = d(rng);
  return l;
}

// Drives a RequestStream and a TokenStream (started from the RequestStream's first
// token) on the same logits; they must agree token by token and on the finish.
void ExpectSameAsRequestStream(const engine::SamplingOptions& o, std::vector<int64_t> eos) {
  std::mt19937 rng(5);
  engine::RequestStream reference(o, nullptr, eos);
  const int32_t first = reference.Next(RandomLogits(rng, 50));
  TokenStream stream(o, eos, first);
  EXPECT_EQ(stream.finished(), reference.finished());
  while (!reference.finished()) {
    const auto logits = RandomLogits(rng, 50);
    ASSERT_FALSE(stream.finished());
    EXPECT_EQ(stream.Next(logits), reference.Next(logits));
  }
  EXPECT_TRUE(stream.finished());
  EXPECT_EQ(stream.finish_reason(), reference.finish_reason());
  EXPECT_EQ(stream.generated(), static_cast<int64_t>(reference.token_ids().size()));
}

TEST(TokenStreamTest, GreedyEqualsRequestStream) {
  engine::SamplingOptions o;
  o.max_tokens = 30;
  ExpectSameAsRequestStream(o, {});
}

TEST(TokenStreamTest, SeededSamplingEqualsRequestStream) {
  engine::SamplingOptions o;
  o.temperature = 0.9;
  o.top_p = 0.95;
  o.top_k = 20;
  o.seed = 1234;
  o.max_tokens = 40;
  ExpectSameAsRequestStream(o, {});
  o.stop_token_ids = {3, 7, 11};  // likely to stop early: "stop" must match too
  ExpectSameAsRequestStream(o, {});
  ExpectSameAsRequestStream(o, {4, 9});
}

// A first token that is EOS or a stop id, or max_tokens 1, ends the stream at once.
TEST(TokenStreamTest, FirstTokenCanFinish) {
  engine::SamplingOptions o;
  o.max_tokens = 5;
  EXPECT_EQ(TokenStream(o, {9}, 9).finish_reason(), "stop");
  o.ignore_eos = true;
  EXPECT_FALSE(TokenStream(o, {9}, 9).finished());
  o.stop_token_ids = {9};
  EXPECT_EQ(TokenStream(o, {}, 9).finish_reason(), "stop");
  o.stop_token_ids.clear();
  o.max_tokens = 1;
  EXPECT_EQ(TokenStream(o, {}, 2).finish_reason(), "length");
}

TEST(TokenStreamTest, SamplingParamsConversion) {
  v1::SamplingParams p;
  p.set_temperature(0.5f);
  p.set_top_p(0);  // disabled
  p.set_seed(77);
  p.add_stop_token_ids(4);
  auto o = ToSamplingOptions(p, 12);
  ASSERT_TRUE(o.ok()) << o.status();
  EXPECT_EQ(o->top_p, 1.0);
  EXPECT_EQ(o->max_tokens, 12);  // 0 = the reservation's max_new_tokens
  EXPECT_EQ(o->seed, 77u);
  EXPECT_EQ(o->stop_token_ids, std::vector<int32_t>{4});
  p.set_temperature(-1);
  EXPECT_EQ(ReasonOf(ToSamplingOptions(p, 12).status()), "BAD_SAMPLING");
  p.set_temperature(1);
  p.set_top_p(1.5f);
  auto bad = ToSamplingOptions(p, 12);
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(bad.status().message()).find("top_p"), std::string::npos);
}

}  // namespace
}  // namespace kvc::decode::internal

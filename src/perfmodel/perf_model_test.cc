#include "kvc/perfmodel/perf_model.h"

#include <gtest/gtest.h>

namespace kvc::perfmodel {
namespace {

PerfModel A800() { return PerfModel(*PresetSpec("llama3-70b-a800x8")); }

// The A800 preset has the paper's 320 KB of KV per token (80*2*8*128*2 bytes).
TEST(PerfModelTest, KvBytesPerTokenMatchesPaper) {
  EXPECT_DOUBLE_EQ(A800().KvBytesPerToken(), 327680.0);
}

// FLOPs with no prefix equal l*(a*n^2*d + b*n*d^2), computed by hand for n = 1000.
TEST(PerfModelTest, PrefillFlopsWithoutPrefixMatchesFormula) {
  EXPECT_DOUBLE_EQ(A800().PrefillFlops(1000, 0), 120733040640000.0);
}

// A 400-token prefix saves its own attention and linear work: l*(a*(n^2-p^2)*d + b*(n-p)*d^2).
TEST(PerfModelTest, PrefillFlopsWithPrefixSubtractsOnlyThePrefixOwnWork) {
  PerfModel m = A800();
  EXPECT_DOUBLE_EQ(m.PrefillFlops(1000, 400), 73068969984000.0);
  EXPECT_DOUBLE_EQ(m.PrefillFlops(1000, 400), m.PrefillFlops(1000, 0) - m.PrefillFlops(400, 0));
  // The new tokens' attention over the cached prefix is still paid: more than a fresh 600.
  EXPECT_GT(m.PrefillFlops(1000, 400), m.PrefillFlops(600, 0));
}

// A prefix covering everything costs nothing; out-of-range prefixes are clamped.
TEST(PerfModelTest, PrefixIsClampedToInput) {
  PerfModel m = A800();
  EXPECT_EQ(m.PrefillFlops(1000, 1000), 0);
  EXPECT_EQ(m.PrefillFlops(1000, 5000), 0);
  EXPECT_DOUBLE_EQ(m.PrefillFlops(1000, -3), m.PrefillFlops(1000, 0));
}

// Prefill seconds = FLOPs / (8 GPUs * 312 TFLOPS * 0.5 efficiency).
TEST(PerfModelTest, PrefillSecondsUsesNodeCompute) {
  EXPECT_NEAR(A800().PrefillSeconds(1000, 0), 120733040640000.0 / 1.248e15, 1e-12);
}

// Decode step = (141.2 GB weights + batch KV bytes) / (8 * 2.039 TB/s * 0.8).
TEST(PerfModelTest, DecodeStepIsMemoryBound) {
  PerfModel m = A800();
  EXPECT_EQ(m.DecodeStepSeconds(0, 0), 0);
  EXPECT_NEAR(m.DecodeStepSeconds(1, 1000), (141.2e9 + 327.68e6) / 13.0496e12, 1e-12);
  EXPECT_GT(m.DecodeStepSeconds(8, 100000), m.DecodeStepSeconds(8, 1000));
}

// KV capacity: (640 GB - 141.2 GB) * 0.9 / 327680 bytes per token.
TEST(PerfModelTest, KvCapacityTokensFromHbm) { EXPECT_EQ(A800().KvCapacityTokens(), 1369995); }

// 1000 tokens of KV over the 800 Gbps NIC and the 128 GB/s host link.
TEST(PerfModelTest, TransferSecondsFromBandwidth) {
  PerfModel m = A800();
  EXPECT_NEAR(m.NetworkSeconds(1000), 3.2768e-3, 1e-12);
  EXPECT_NEAR(m.HostToDeviceSeconds(1000), 327.68e6 / 128e9, 1e-12);
  EXPECT_EQ(m.NetworkSeconds(0), 0);
}

// The H800 preset computes faster than the A800 one for the same work.
TEST(PerfModelTest, H800PresetIsFaster) {
  PerfModel h(*PresetSpec("llama3-70b-h800x8"));
  EXPECT_LT(h.PrefillSeconds(8000, 0), A800().PrefillSeconds(8000, 0));
  EXPECT_LT(h.DecodeStepSeconds(16, 100000), A800().DecodeStepSeconds(16, 100000));
}

// Unknown presets and bad specs are rejected with the offending name or field.
TEST(PerfModelTest, BadInputGetsClearError) {
  auto unknown = PresetSpec("gpt-5");
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(std::string(unknown.status().message()).find("llama3-70b-a800x8"), std::string::npos);
  PerfSpec spec = *PresetSpec("llama3-70b-a800x8");
  EXPECT_TRUE(ValidateSpec(spec).ok());
  spec.node.nic_bytes_per_s = 0;
  Status s = ValidateSpec(spec);
  EXPECT_NE(std::string(s.message()).find("node.nic_bytes_per_s"), std::string::npos);
  spec = *PresetSpec("llama3-70b-a800x8");
  spec.node.hbm_bytes_per_gpu = 10e9;
  EXPECT_FALSE(ValidateSpec(spec).ok());
}

}  // namespace
}  // namespace kvc::perfmodel

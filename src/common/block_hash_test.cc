#include "kvc/common/block_hash.h"

#include <gtest/gtest.h>

#include <numeric>
#include <set>

namespace kvc {
namespace {

std::vector<uint32_t> Iota(size_t n, uint32_t start = 0) {
  std::vector<uint32_t> v(n);
  std::iota(v.begin(), v.end(), start);
  return v;
}

// Same tokens and model → the same keys, one per full block.
TEST(BlockHashTest, SamePrefixSameKeys) {
  const auto tokens = Iota(40);
  const auto a = ChainedBlockKeys("m", tokens, 16);
  const auto b = ChainedBlockKeys("m", tokens, 16);
  ASSERT_EQ(a.size(), 2u);  // the trailing 8 tokens form no key
  EXPECT_EQ(a, b);
}

// Two prompts sharing the first blocks share exactly those keys.
TEST(BlockHashTest, SharedPrefixSharesLeadingKeys) {
  auto x = Iota(64);
  auto y = x;
  y[40] = 9999;  // inside block 2
  const auto kx = ChainedBlockKeys("m", x, 16);
  const auto ky = ChainedBlockKeys("m", y, 16);
  ASSERT_EQ(kx.size(), 4u);
  EXPECT_EQ(kx[0], ky[0]);
  EXPECT_EQ(kx[1], ky[1]);
  EXPECT_NE(kx[2], ky[2]);
}

// One changed token changes its block's key and every later key (chaining).
TEST(BlockHashTest, ChangedTokenChangesThatAndEveryLaterKey) {
  auto x = Iota(80);
  auto y = x;
  y[3] = 12345;  // block 0
  const auto kx = ChainedBlockKeys("m", x, 16);
  const auto ky = ChainedBlockKeys("m", y, 16);
  ASSERT_EQ(kx.size(), 5u);
  for (size_t i = 0; i < kx.size(); ++i) EXPECT_NE(kx[i], ky[i]) << "block " << i;
}

// A later block with identical tokens still gets a different key when its prefix differs.
TEST(BlockHashTest, KeyCoversWholePrefix) {
  std::vector<uint32_t> a = Iota(32);
  std::vector<uint32_t> b = Iota(32, 1000);
  std::copy(a.begin() + 16, a.end(), b.begin() + 16);  // same second block, other first block
  EXPECT_NE(ChainedBlockKeys("m", a, 16)[1], ChainedBlockKeys("m", b, 16)[1]);
}

// The model id changes every key.
TEST(BlockHashTest, ModelIdChangesAllKeys) {
  const auto tokens = Iota(48);
  const auto a = ChainedBlockKeys("llama-3-8b", tokens, 16);
  const auto b = ChainedBlockKeys("llama-3-70b", tokens, 16);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NE(a[i], b[i]);
}

// The chain is exactly ChainKey applied block by block from RootKey.
TEST(BlockHashTest, ChainMatchesStepwiseDefinition) {
  const auto tokens = Iota(32, 7);
  const auto keys = ChainedBlockKeys("m", tokens, 16);
  BlockKey k0 = ChainKey(RootKey("m"), std::span(tokens).subspan(0, 16));
  BlockKey k1 = ChainKey(k0, std::span(tokens).subspan(16, 16));
  EXPECT_EQ(keys[0], k0);
  EXPECT_EQ(keys[1], k1);
}

// Token order matters, and different block sizes give different keys.
TEST(BlockHashTest, OrderAndBlockSizeMatter) {
  std::vector<uint32_t> a = {1, 2, 3, 4};
  std::vector<uint32_t> b = {2, 1, 3, 4};
  EXPECT_NE(ChainedBlockKeys("m", a, 4)[0], ChainedBlockKeys("m", b, 4)[0]);
  EXPECT_NE(ChainedBlockKeys("m", a, 2)[0], ChainedBlockKeys("m", a, 4)[0]);
}

// Fewer tokens than one block → no keys; keys of many blocks are distinct.
TEST(BlockHashTest, EdgeCasesAndDistinctness) {
  EXPECT_TRUE(ChainedBlockKeys("m", Iota(15), 16).empty());
  const auto keys = ChainedBlockKeys("m", Iota(16 * 1000), 16);
  std::set<BlockKey> unique(keys.begin(), keys.end());
  EXPECT_EQ(unique.size(), 1000u);
  EXPECT_EQ(keys[0].ToHex().size(), 32u);
}

}  // namespace
}  // namespace kvc

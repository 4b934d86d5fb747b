#include "bench/sim/cache_curve.h"

#include <gtest/gtest.h>

#include "bench/sim/block_lru.h"

namespace kvc::sim {
namespace {

trace::TraceRequest Req(int64_t input, std::vector<int64_t> ids) {
  trace::TraceRequest r;
  r.input_length = input;
  r.output_length = 1;
  r.hash_ids = std::move(ids);
  return r;
}

// Three requests computed by hand: [1,2], [1,3], [1,2,4].
std::vector<trace::TraceRequest> Tiny() {
  return {Req(1024, {1, 2}), Req(1024, {1, 3}), Req(1536, {1, 2, 4})};
}

// Unbounded: hits 0 + 512 + 1024 of 3584 input tokens.
TEST(CacheCurveTest, UnboundedPoolHitsEverySharedPrefix) {
  EXPECT_DOUBLE_EQ(PrefixHitRate(Tiny(), -1), 1536.0 / 3584.0);
}

// Two blocks: [1,3] evicts block 2 (older than the refreshed head 1), so the third
// request only hits block 1: 512 + 512 of 3584.
TEST(CacheCurveTest, TwoBlockPoolEvictsTheTailFirst) {
  EXPECT_DOUBLE_EQ(PrefixHitRate(Tiny(), 1024), 1024.0 / 3584.0);
  EXPECT_DOUBLE_EQ(PrefixHitRate(Tiny(), 1500), 1024.0 / 3584.0);  // rounds down to 2 blocks
}

// No capacity, no hits; a partial last block counts only its real tokens.
TEST(CacheCurveTest, ZeroCapacityAndPartialBlocks) {
  EXPECT_EQ(PrefixHitRate(Tiny(), 0), 0);
  std::vector<trace::TraceRequest> partial = {Req(600, {7, 8}), Req(600, {7, 8})};
  EXPECT_DOUBLE_EQ(PrefixHitRate(partial, -1), 600.0 / 1200.0);
}

// MatchPrefix stops at the first missing block and does not refresh anything.
TEST(BlockLruTest, MatchStopsAtFirstMissAndDoesNotTouch) {
  BlockLru lru(2);
  std::vector<int64_t> a = {1, 2}, b = {3}, probe = {1, 9, 2};
  lru.Touch(a);
  EXPECT_EQ(lru.MatchPrefix(probe), 1);
  EXPECT_EQ(lru.MatchPrefix(a), 2);
  lru.Touch(b);  // evicts 2, the least recent (1 was refreshed last by Touch(a))
  EXPECT_TRUE(lru.Contains(1));
  EXPECT_FALSE(lru.Contains(2));
  EXPECT_EQ(lru.size(), 2);
}

}  // namespace
}  // namespace kvc::sim

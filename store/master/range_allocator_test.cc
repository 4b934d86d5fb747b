#include "store/master/range_allocator.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace kvc::store {
namespace {

// Allocations are aligned, disjoint and accounted; freeing everything restores one range.
TEST(RangeAllocatorTest, AllocateAndFreeRestoresSingleRange) {
  RangeAllocator a(4096, 64);
  auto x = a.Allocate(100);
  auto y = a.Allocate(64);
  ASSERT_TRUE(x && y);
  EXPECT_EQ(*x % 64, 0u);
  EXPECT_EQ(*y % 64, 0u);
  EXPECT_NE(*x, *y);
  EXPECT_EQ(a.used_bytes(), 128u + 64u);
  EXPECT_TRUE(a.Free(*x, 100));
  EXPECT_TRUE(a.Free(*y, 64));
  EXPECT_EQ(a.used_bytes(), 0u);
  EXPECT_EQ(a.free_range_count(), 1u);
  EXPECT_EQ(a.largest_free_range(), 4096u);
  EXPECT_DOUBLE_EQ(a.fragmentation(), 0.0);
}

// Zero, oversize and exhausted requests fail without changing anything.
TEST(RangeAllocatorTest, RefusesZeroOversizeAndFull) {
  RangeAllocator a(1024, 64);
  EXPECT_FALSE(a.Allocate(0));
  EXPECT_FALSE(a.Allocate(1025));
  ASSERT_TRUE(a.Allocate(1024));
  EXPECT_FALSE(a.Allocate(1));
  EXPECT_EQ(a.used_bytes(), 1024u);
}

// Double free and freeing a never-allocated range are refused.
TEST(RangeAllocatorTest, RefusesDoubleFreeAndForeignRange) {
  RangeAllocator a(1024, 64);
  auto x = a.Allocate(128);
  ASSERT_TRUE(x);
  EXPECT_TRUE(a.Free(*x, 128));
  EXPECT_FALSE(a.Free(*x, 128));
  EXPECT_FALSE(a.Free(512, 64));
  EXPECT_FALSE(a.Free(2048, 64));
  EXPECT_EQ(a.used_bytes(), 0u);
}

// AllocateAt claims exactly the given range and refuses overlaps.
TEST(RangeAllocatorTest, AllocateAtClaimsExactRange) {
  RangeAllocator a(1024, 64);
  EXPECT_TRUE(a.AllocateAt(256, 128));
  EXPECT_FALSE(a.AllocateAt(320, 64));   // overlaps
  EXPECT_FALSE(a.AllocateAt(100, 64));   // misaligned
  EXPECT_FALSE(a.AllocateAt(1000, 64));  // out of bounds
  EXPECT_EQ(a.used_bytes(), 128u);
  EXPECT_EQ(a.free_range_count(), 2u);
  EXPECT_TRUE(a.Free(256, 128));
  EXPECT_EQ(a.free_range_count(), 1u);
}

// Holes between live allocations show up as fragmentation.
TEST(RangeAllocatorTest, ReportsFragmentation) {
  RangeAllocator a(64 * 8, 64);
  std::vector<uint64_t> offs;
  for (int i = 0; i < 8; ++i) offs.push_back(*a.Allocate(64));
  for (int i = 0; i < 8; i += 2) ASSERT_TRUE(a.Free(offs[i], 64));
  EXPECT_EQ(a.free_bytes(), 256u);
  EXPECT_EQ(a.largest_free_range(), 64u);
  EXPECT_DOUBLE_EQ(a.fragmentation(), 0.75);
  EXPECT_FALSE(a.Allocate(128));  // enough bytes, no contiguous range
}

// A random mix of allocations and frees keeps the accounting consistent.
TEST(RangeAllocatorTest, RandomWorkloadStaysConsistent) {
  RangeAllocator a(1 << 20, 64);
  std::mt19937 rng(7);
  std::vector<std::pair<uint64_t, uint64_t>> live;
  uint64_t expected_used = 0;
  for (int i = 0; i < 5000; ++i) {
    if (live.empty() || rng() % 3 != 0) {
      const uint64_t size = 1 + rng() % 8192;
      if (auto off = a.Allocate(size)) {
        live.emplace_back(*off, size);
        expected_used += (size + 63) & ~63ull;
      }
    } else {
      const size_t idx = rng() % live.size();
      ASSERT_TRUE(a.Free(live[idx].first, live[idx].second));
      expected_used -= (live[idx].second + 63) & ~63ull;
      live[idx] = live.back();
      live.pop_back();
    }
    ASSERT_EQ(a.used_bytes(), expected_used);
  }
  for (auto [off, size] : live) ASSERT_TRUE(a.Free(off, size));
  EXPECT_EQ(a.free_range_count(), 1u);
}

}  // namespace
}  // namespace kvc::store

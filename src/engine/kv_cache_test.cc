// The paged KV cache: allocation, the arena allocator, the documented byte layout,
// per-layer import, and refusal of bad imports without side effects.
#include "kvc/engine/kv_cache.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace kvc::engine {
namespace {

KvCacheGeometry Geometry() {
  // 3 layers, 4 tokens per block, 2 KV heads of 2 dims, f32: layer = 2*4*2*2*4 = 128 bytes.
  return KvCacheGeometry{3, 4, 2 * 2 * 2 * 4, 2, 2, 4};
}

// Blocks come and go; a full cache says so with a reason; double free is harmless.
TEST(KvCacheTest, AllocatesUntilFull) {
  KvCache cache(Geometry(), 2);
  auto a = cache.Allocate(), b = cache.Allocate(), c = cache.Allocate();
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(ReasonOf(c.status()), "KV_CACHE_FULL");
  cache.Free(*a);
  cache.Free(*a);
  EXPECT_EQ(cache.free_blocks(), 1);
  EXPECT_TRUE(cache.Allocate().ok());
}

// Keys/Values/Layer point where docs/kv-layout.md says: layer l at l*layer_bytes, V
// after K, token t head h at (t*H + h)*D elements.
TEST(KvCacheTest, LayoutMatchesTheDocument) {
  KvCache cache(Geometry(), 1);
  const BlockId id = *cache.Allocate();
  EXPECT_EQ(cache.geometry().layer_bytes(), 128u);
  EXPECT_EQ(cache.geometry().block_bytes(), 384u);
  const uint8_t* base = cache.Block(id).data();
  EXPECT_EQ(reinterpret_cast<uint8_t*>(cache.Keys(id, 2)) - base, 256);
  EXPECT_EQ(reinterpret_cast<uint8_t*>(cache.Values(id, 2)) - base, 256 + 4 * 2 * 2 * 4);
  cache.Values(id, 1)[(3 * 2 + 1) * 2 + 1] = 42.0f;  // layer 1, V, token 3, head 1, dim 1
  std::vector<uint8_t> bytes;
  ASSERT_TRUE(cache.ExportBlock(id, &bytes).ok());
  float v;
  std::memcpy(&v, bytes.data() + 128 + 64 + ((3 * 2 + 1) * 2 + 1) * 4, 4);
  EXPECT_EQ(v, 42.0f);
}

// Layer import writes only that layer; wrong sizes, layers or ids change nothing.
TEST(KvCacheTest, LayerImportAndBadImports) {
  KvCache cache(Geometry(), 2);
  const BlockId id = *cache.Allocate();
  std::vector<uint8_t> layer(128, 0xAB);
  ASSERT_TRUE(cache.ImportLayer(id, 1, layer).ok());
  std::vector<uint8_t> bytes;
  ASSERT_TRUE(cache.ExportBlock(id, &bytes).ok());
  EXPECT_EQ(std::count(bytes.begin(), bytes.end(), 0xAB), 128);
  EXPECT_EQ(bytes[128], 0xAB);
  EXPECT_EQ(bytes[127], 0);
  EXPECT_FALSE(cache.ImportLayer(id, 3, layer).ok());
  EXPECT_FALSE(cache.ImportLayer(id, 0, std::vector<uint8_t>(127)).ok());
  EXPECT_FALSE(cache.ImportBlock(id, std::vector<uint8_t>(383, 1)).ok());
  EXPECT_FALSE(cache.ImportBlock(1, std::vector<uint8_t>(384, 1)).ok());  // not allocated
  std::vector<uint8_t> after;
  ASSERT_TRUE(cache.ExportBlock(id, &after).ok());
  EXPECT_EQ(after, bytes);
  EXPECT_FALSE(cache.ExportBlock(1, &after).ok());
}

// The arena comes from the given allocator (zero-filled, whole), blocks live inside
// it, and the cache gives it back exactly once when destroyed.
TEST(KvCacheTest, ArenaFromAllocator) {
  std::vector<uint8_t> backing(2 * 3 * 128 + 64, 0);
  uint64_t asked = 0;
  std::vector<void*> freed;
  KvArenaAllocator alloc{[&](uint64_t bytes) -> StatusOr<void*> {
                           asked = bytes;
                           return backing.data() + 64;
                         },
                         [&](void* p) { freed.push_back(p); }};
  {
    KvCache cache(Geometry(), 2, alloc);
    ASSERT_TRUE(cache.status().ok());
    EXPECT_EQ(asked, 2u * 3 * 128);
    EXPECT_EQ(cache.Arena().data(), backing.data() + 64);
    EXPECT_EQ(cache.Arena().size(), asked);
    auto b = cache.Allocate();
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(cache.Block(*b).data(), backing.data() + 64 + cache.BlockOffset(*b));
    std::memset(cache.Block(*b).data(), 0xab, cache.Block(*b).size());
    EXPECT_TRUE(freed.empty());
  }
  ASSERT_EQ(freed.size(), 1u);
  EXPECT_EQ(freed[0], backing.data() + 64);
  EXPECT_EQ(backing[64 + 1], 0xab);  // the block was written in the allocator's memory
}

// An allocator that fails leaves a cache that says why and hands out no block.
TEST(KvCacheTest, FailedArenaAllocation) {
  bool freed = false;
  KvArenaAllocator alloc{[](uint64_t) -> StatusOr<void*> {
                           return absl::ResourceExhaustedError("no shared memory left");
                         },
                         [&](void*) { freed = true; }};
  {
    KvCache cache(Geometry(), 4, alloc);
    EXPECT_EQ(cache.status().code(), absl::StatusCode::kResourceExhausted);
    EXPECT_EQ(cache.free_blocks(), 0);
    EXPECT_FALSE(cache.Allocate().ok());
    EXPECT_TRUE(cache.Arena().empty());
  }
  EXPECT_FALSE(freed);
}

// The default heap arena is zero-filled.
TEST(KvCacheTest, HeapArenaIsZeroFilled) {
  KvCache cache(Geometry(), 3);
  ASSERT_TRUE(cache.status().ok());
  for (uint8_t byte : cache.Arena()) ASSERT_EQ(byte, 0);
}

}  // namespace
}  // namespace kvc::engine

// The paged KV cache: allocation, the documented byte layout, per-layer import, and
// refusal of bad imports without side effects.
#include "kvc/engine/kv_cache.h"

#include <gtest/gtest.h>

#include <cstring>

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

}  // namespace
}  // namespace kvc::engine

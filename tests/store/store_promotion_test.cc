// Promotion with real processes: blocks demoted to a node's SSD (RocksDB) and then
// read often enough are copied back into its DRAM by a PROMOTE node task, and
// read back byte-exact from DRAM.
#include <gtest/gtest.h>

#include "store/proto_convert.h"
#include "tests/store/store_cluster.h"

namespace kvc::store {
namespace {

using testing::FillPattern;
using testing::MatchesPattern;
using testing::StoreCluster;

BlockKey Key(uint64_t i) { return BlockKey{78, i}; }

// The tier of the first replica the master hands out for `key` ("" when not found).
std::string FirstTier(StoreCluster& cluster, const BlockKey& key) {
  v1::GetRequest req;
  ToProto(key, req.mutable_key());
  v1::GetResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  if (!cluster.stub().Get(&ctx, req, &resp).ok() || resp.replicas_size() == 0) return "";
  return resp.replicas(0).tier() == v1::STORAGE_TIER_SSD ? "ssd" : "dram";
}

TEST(StorePromotionTest, HotSsdBlockIsPromotedBackToDram) {
  StoreCluster cluster({"--store-dram-high-watermark", "0.6", "--store-dram-low-watermark", "0.3",
                        "--store-lease-ms", "300", "--store-promote-after-reads", "3"});
  cluster.StartMaster();
  cluster.StartNode("n1", 1 << 20, true);
  cluster.WaitStats([](const auto& s) { return s.nodes() == 1 && s.ssd_capacity_bytes() > 0; });
  constexpr uint64_t kSize = 64 << 10;
  constexpr uint64_t kKeys = 12;  // 768 KiB > 60% of 1 MiB: the oldest get demoted
  auto c = cluster.MakeClient(kSize, 1, /*lease_cache=*/false);
  for (uint64_t i = 0; i < kKeys; ++i) {
    FillPattern(c->buffer.data(), kSize, i);
    ASSERT_TRUE(c->client->Put(Key(i), c->buffer.data(), kSize).ok()) << i;
  }
  auto stats = cluster.WaitStats([](const auto& s) {
    return s.demotions() > 0 && s.ssd_replicas() == s.demotions() && s.dram_bytes() < (600 << 10);
  });
  ASSERT_GT(stats.demotions(), 0u);
  uint64_t hot = kKeys;  // an SSD-only key
  for (uint64_t i = 0; i < kKeys && hot == kKeys; ++i) {
    if (FirstTier(cluster, Key(i)) == "ssd") hot = i;
  }
  ASSERT_LT(hot, kKeys) << "no SSD-only key after demotion";
  EXPECT_EQ(stats.promotions(), 0u);
  // FirstTier's Get counted one read; two more client reads (staged from SSD) reach 3.
  for (int r = 0; r < 2; ++r) {
    std::fill(c->buffer.begin(), c->buffer.end(), 0);
    auto got = c->client->Get(Key(hot), c->buffer.data(), kSize);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_TRUE(MatchesPattern(c->buffer.data(), kSize, hot));
  }
  stats = cluster.WaitStats([](const auto& s) { return s.promotions() >= 1; });
  ASSERT_EQ(stats.promotions(), 1u) << "the hot SSD-only block was not promoted";
  EXPECT_EQ(FirstTier(cluster, Key(hot)), "dram");
  std::fill(c->buffer.begin(), c->buffer.end(), 0);
  auto got = c->client->Get(Key(hot), c->buffer.data(), kSize);  // now a DRAM read
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(MatchesPattern(c->buffer.data(), kSize, hot)) << "promoted bytes differ";
}

}  // namespace
}  // namespace kvc::store

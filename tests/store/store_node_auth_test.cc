// A standalone kvc-store with a cluster token: its StoreNode service (Stage,
// Unstage) refuses calls without the token or with a wrong one
// (UNAUTHENTICATED) and serves the right one; a client holding the token reads
// demoted (SSD) blocks through it byte-exact. Real kvc-master and kvc-store.
#include <gtest/gtest.h>

#include "kvc/rpc/auth.h"
#include "kvc/rpc/grpc_status.h"
#include "tests/store/store_cluster.h"

namespace kvc::store {
namespace {

using testing::FillPattern;
using testing::MatchesPattern;
using testing::StoreCluster;

constexpr char kToken[] = "pool-secret";

BlockKey Key(uint64_t i) { return BlockKey{0x5eed, i}; }

std::unique_ptr<grpc::ClientContext> Ctx(const std::string& token) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
  if (!token.empty()) AddBearerToken(ctx.get(), token);
  return ctx;
}

TEST(StoreNodeAuthTest, StandaloneStoreRequiresTheClusterToken) {
  StoreCluster cluster({"--store-dram-high-watermark", "0.6", "--store-dram-low-watermark", "0.3",
                        "--store-lease-ms", "300"},
                       kToken);
  cluster.StartMaster();
  cluster.StartNode("n1", 1 << 20, true);
  cluster.WaitStats([](const auto& s) { return s.nodes() == 1 && s.ssd_capacity_bytes() > 0; });
  constexpr uint64_t kSize = 64 << 10;
  constexpr uint64_t kKeys = 12;  // 768 KiB > 60% of 1 MiB: some are demoted to SSD
  auto c = cluster.MakeClient(kSize);
  for (uint64_t i = 0; i < kKeys; ++i) {
    FillPattern(c->buffer.data(), kSize, i);
    ASSERT_TRUE(c->client->Put(Key(i), c->buffer.data(), kSize).ok()) << i;
  }
  const auto stats = cluster.WaitStats(
      [](const auto& s) { return s.demotions() > 0 && s.ssd_replicas() == s.demotions(); });
  ASSERT_GT(stats.demotions(), 0u) << "no demotion happened";

  // A key with an SSD copy, from the master (which wants the token too).
  std::optional<uint64_t> on_ssd;
  for (uint64_t i = 0; i < kKeys && !on_ssd; ++i) {
    v1::GetRequest req;
    req.mutable_key()->set_hi(Key(i).hi);
    req.mutable_key()->set_lo(Key(i).lo);
    v1::GetResponse resp;
    ASSERT_TRUE(cluster.stub().Get(Ctx(kToken).get(), req, &resp).ok());
    for (const v1::Replica& r : resp.replicas()) {
      if (r.tier() == v1::STORAGE_TIER_SSD) on_ssd = i;
    }
  }
  ASSERT_TRUE(on_ssd.has_value());

  auto node = v1::StoreNode::NewStub(MakeChannel(cluster.node_address("n1")));
  v1::StageRequest stage;
  stage.mutable_key()->set_hi(Key(*on_ssd).hi);
  stage.mutable_key()->set_lo(Key(*on_ssd).lo);
  v1::StageResponse staged;
  EXPECT_EQ(node->Stage(Ctx("").get(), stage, &staged).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(node->Stage(Ctx("wrong").get(), stage, &staged).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(staged.size(), 0u) << "a refused call ran";
  const grpc::Status ok = node->Stage(Ctx(kToken).get(), stage, &staged);
  ASSERT_TRUE(ok.ok()) << ok.error_message();
  EXPECT_EQ(staged.size(), kSize);
  v1::UnstageRequest unstage;
  unstage.set_staging_id(staged.staging_id());
  v1::UnstageResponse unstaged;
  EXPECT_EQ(node->Unstage(Ctx("").get(), unstage, &unstaged).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(node->Unstage(Ctx(kToken).get(), unstage, &unstaged).ok());

  // The client (right token everywhere) reads every block back, SSD ones staged.
  for (uint64_t i = 0; i < kKeys; ++i) {
    std::fill(c->buffer.begin(), c->buffer.end(), 0);
    auto got = c->client->Get(Key(i), c->buffer.data(), kSize);
    ASSERT_TRUE(got.ok()) << i << ": " << got.status();
    EXPECT_TRUE(MatchesPattern(c->buffer.data(), kSize, i)) << i;
  }
}

}  // namespace
}  // namespace kvc::store

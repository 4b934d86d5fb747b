// The store's data path with real processes: kvc-master, kvc-store nodes, and
// clients moving bytes through the transfer engine. Every byte is verified.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/store/store_cluster.h"

namespace kvc::store {
namespace {

using testing::FillPattern;
using testing::MatchesPattern;
using testing::StoreCluster;

BlockKey Key(uint64_t i) { return BlockKey{77, i}; }

// Many clients put and get overlapping keys concurrently; every byte is verified.
TEST(StoreDataTest, ManyClientsOverlappingKeysByteExact) {
  StoreCluster cluster;
  cluster.StartMaster();
  cluster.StartNode("n1", 32 << 20, false);
  cluster.StartNode("n2", 32 << 20, false);
  cluster.WaitStats([](const auto& s) { return s.nodes() == 2; });
  constexpr int kClients = 4;
  constexpr uint64_t kKeys = 40;
  constexpr uint64_t kSize = 64 << 10;
  std::atomic<int> verified{0}, errors{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      auto client = cluster.MakeClient(kSize, 2);
      for (uint64_t k = 0; k < kKeys; ++k) {
        const uint64_t id = (k + c * 7) % kKeys;  // clients overlap on every key
        FillPattern(client->buffer.data(), kSize, id);
        Status put = client->client->Put(Key(id), client->buffer.data(), kSize);
        if (!put.ok() && ReasonOf(put) != "OBJECT_EXISTS" && ReasonOf(put) != "PUT_IN_PROGRESS") {
          ADD_FAILURE() << put;
          errors++;
        }
      }
      for (uint64_t k = 0; k < kKeys; ++k) {
        std::fill(client->buffer.begin(), client->buffer.end(), 0);
        auto got = client->client->Get(Key(k), client->buffer.data(), kSize);
        if (!got.ok()) {
          ADD_FAILURE() << got.status();
          errors++;
          continue;
        }
        if (*got == kSize && MatchesPattern(client->buffer.data(), kSize, k)) verified++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(verified.load(), kClients * static_cast<int>(kKeys));
  auto client = cluster.MakeClient(kSize);
  std::vector<BlockKey> keys;
  for (uint64_t k = 0; k < kKeys; ++k) keys.push_back(Key(k));
  auto match = client->client->MatchPrefix(keys);
  ASSERT_TRUE(match.ok());
  EXPECT_EQ(match->best_matched_blocks, kKeys);
  EXPECT_EQ(match->nodes.size(), 2u);  // two replicas each
}

// BatchGet reads many keys with one master round trip; bad inputs get clear errors.
TEST(StoreDataTest, BatchGetAndBadInputs) {
  StoreCluster cluster;
  cluster.StartMaster();
  cluster.StartNode("n1", 16 << 20, false);
  cluster.WaitStats([](const auto& s) { return s.nodes() == 1; });
  constexpr uint64_t kSize = 16 << 10;
  auto c = cluster.MakeClient(kSize * 8);
  std::vector<PutItem> puts;
  for (uint64_t i = 0; i < 8; ++i) {
    FillPattern(c->buffer.data() + i * kSize, kSize, i);
    puts.push_back(PutItem{Key(i), c->buffer.data() + i * kSize, kSize});
  }
  for (const Status& s : c->client->BatchPut(puts)) ASSERT_TRUE(s.ok()) << s;
  std::fill(c->buffer.begin(), c->buffer.end(), 0);
  std::vector<GetItem> gets;
  for (uint64_t i = 0; i < 8; ++i)
    gets.push_back(GetItem{Key(i), c->buffer.data() + i * kSize, kSize});
  gets.push_back(GetItem{Key(99), c->buffer.data(), kSize});
  auto got = c->client->BatchGet(gets);
  for (uint64_t i = 0; i < 8; ++i) {
    ASSERT_TRUE(got[i].ok()) << got[i].status();
    EXPECT_TRUE(MatchesPattern(c->buffer.data() + i * kSize, kSize, i)) << i;
  }
  EXPECT_EQ(ReasonOf(got[8].status()), "NOT_FOUND");
  EXPECT_EQ(ReasonOf(c->client->Get(Key(1), c->buffer.data(), kSize - 1).status()), "BAD_SIZE");
  EXPECT_EQ(ReasonOf(c->client->Put(Key(50), c->buffer.data(), 0)), "BAD_SIZE");
  EXPECT_EQ(ReasonOf(c->client->Put(Key(50), c->buffer.data(), 1ull << 40)), "BAD_SIZE");
  EXPECT_EQ(ReasonOf(c->client->Put(Key(1), c->buffer.data(), kSize)), "OBJECT_EXISTS");
  EXPECT_TRUE(*c->client->Exists(Key(1)));
  EXPECT_FALSE(*c->client->Exists(Key(50)));
}

// Killing a node: Get falls back to the other replica, and the dead node's
// replicas disappear from the metadata.
TEST(StoreDataTest, KilledNodeFallsBackToOtherReplica) {
  StoreCluster cluster;
  cluster.StartMaster();
  cluster.StartNode("a", 16 << 20, false);
  cluster.StartNode("b", 16 << 20, false);
  cluster.WaitStats([](const auto& s) { return s.nodes() == 2; });
  constexpr uint64_t kSize = 32 << 10;
  auto c = cluster.MakeClient(kSize, 2);
  for (uint64_t i = 0; i < 10; ++i) {
    FillPattern(c->buffer.data(), kSize, i);
    ASSERT_TRUE(c->client->Put(Key(i), c->buffer.data(), kSize).ok());
  }
  cluster.KillNode("a");
  for (uint64_t i = 0; i < 10; ++i) {
    std::fill(c->buffer.begin(), c->buffer.end(), 0);
    auto got = c->client->Get(Key(i), c->buffer.data(), kSize);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_TRUE(MatchesPattern(c->buffer.data(), kSize, i)) << i;
  }
  auto stats = cluster.WaitStats([](const auto& s) { return s.nodes() == 1; });
  EXPECT_EQ(stats.nodes(), 1u);
  EXPECT_EQ(stats.dram_replicas(), 10u);
}

// Kill and restart the master: the node re-registers with its contents and gets work again.
TEST(StoreDataTest, MasterRestartReconcilesContents) {
  StoreCluster cluster;
  cluster.StartMaster();
  cluster.StartNode("n1", 16 << 20, false);
  cluster.WaitStats([](const auto& s) { return s.nodes() == 1; });
  constexpr uint64_t kSize = 8 << 10;
  auto c = cluster.MakeClient(kSize);
  for (uint64_t i = 0; i < 20; ++i) {
    FillPattern(c->buffer.data(), kSize, i);
    ASSERT_TRUE(c->client->Put(Key(i), c->buffer.data(), kSize).ok());
  }
  // Wait until the node has learned its contents (RECORD tasks ride on heartbeats).
  ASSERT_EQ(cluster.WaitStats([](const auto& s) { return s.queued_node_tasks() == 0; })
                .queued_node_tasks(),
            0u);
  cluster.KillMaster();
  cluster.StartMaster();
  auto stats = cluster.WaitStats([](const auto& s) { return s.objects() == 20; });
  ASSERT_EQ(stats.objects(), 20u) << "master did not converge";
  auto fresh = cluster.MakeClient(kSize);  // no cached leases: every get asks the new master
  for (uint64_t i = 0; i < 20; ++i) {
    std::fill(fresh->buffer.begin(), fresh->buffer.end(), 0);
    auto got = fresh->client->Get(Key(i), fresh->buffer.data(), kSize);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_TRUE(MatchesPattern(fresh->buffer.data(), kSize, i)) << i;
  }
}

// A client reuses a leased replica list instead of asking the master again; with
// the cache off every get is a master round trip.
TEST(StoreDataTest, LeaseCacheSkipsMasterRoundTrips) {
  StoreCluster cluster;
  cluster.StartMaster();
  cluster.StartNode("n1", 4 << 20, false);
  cluster.WaitStats([](const auto& s) { return s.nodes() == 1; });
  constexpr uint64_t kSize = 4 << 10;
  auto cached = cluster.MakeClient(kSize);
  auto uncached = cluster.MakeClient(kSize, 1, /*lease_cache=*/false);
  FillPattern(cached->buffer.data(), kSize, 5);
  ASSERT_TRUE(cached->client->Put(Key(5), cached->buffer.data(), kSize).ok());
  const uint64_t before = cluster.WaitStats([](const auto&) { return true; }).gets();
  for (int i = 0; i < 5; ++i) {
    std::fill(cached->buffer.begin(), cached->buffer.end(), 0);
    ASSERT_TRUE(cached->client->Get(Key(5), cached->buffer.data(), kSize).ok());
    EXPECT_TRUE(MatchesPattern(cached->buffer.data(), kSize, 5));
    ASSERT_TRUE(uncached->client->Get(Key(5), uncached->buffer.data(), kSize).ok());
    EXPECT_TRUE(MatchesPattern(uncached->buffer.data(), kSize, 5));
  }
  EXPECT_EQ(cluster.WaitStats([](const auto&) { return true; }).gets() - before, 1u + 5u);
}

// Eviction demotes DRAM blocks to the node's SSD; they read back byte-exact, also
// after the node process is killed and restarted (RocksDB persistence).
TEST(StoreDataTest, DemotionToSsdSurvivesNodeRestart) {
  StoreCluster cluster({"--store-dram-high-watermark", "0.6", "--store-dram-low-watermark", "0.3",
                        "--store-lease-ms", "300"});
  cluster.StartMaster();
  cluster.StartNode("n1", 1 << 20, true);
  cluster.WaitStats([](const auto& s) { return s.nodes() == 1 && s.ssd_capacity_bytes() > 0; });
  constexpr uint64_t kSize = 64 << 10;
  constexpr uint64_t kKeys = 12;  // 768 KiB > 60% of 1 MiB
  auto c = cluster.MakeClient(kSize);
  for (uint64_t i = 0; i < kKeys; ++i) {
    FillPattern(c->buffer.data(), kSize, i);
    ASSERT_TRUE(c->client->Put(Key(i), c->buffer.data(), kSize).ok()) << i;
  }
  auto stats = cluster.WaitStats(
      [](const auto& s) { return s.demotions() > 0 && s.ssd_replicas() == s.demotions(); });
  ASSERT_GT(stats.demotions(), 0u) << "no demotion happened";
  EXPECT_LE(stats.dram_bytes(), (1u << 20) * 6 / 10);
  EXPECT_EQ(stats.objects(), kKeys);  // nothing vanished
  for (uint64_t i = 0; i < kKeys; ++i) {
    std::fill(c->buffer.begin(), c->buffer.end(), 0);
    auto got = c->client->Get(Key(i), c->buffer.data(), kSize);
    ASSERT_TRUE(got.ok()) << i << ": " << got.status();
    EXPECT_TRUE(MatchesPattern(c->buffer.data(), kSize, i)) << i;
  }
  const uint64_t on_ssd = stats.ssd_replicas();
  cluster.KillNode("n1");
  cluster.WaitStats([](const auto& s) { return s.nodes() == 0; });
  cluster.StartNode("n1", 1 << 20, true);
  stats = cluster.WaitStats([&](const auto& s) { return s.ssd_replicas() == on_ssd; });
  ASSERT_EQ(stats.ssd_replicas(), on_ssd) << "SSD contents were not re-reported";
  uint64_t read_back = 0;
  for (uint64_t i = 0; i < kKeys; ++i) {
    std::fill(c->buffer.begin(), c->buffer.end(), 0);
    auto got = c->client->Get(Key(i), c->buffer.data(), kSize);
    if (!got.ok()) continue;  // DRAM-only blocks died with the process
    EXPECT_TRUE(MatchesPattern(c->buffer.data(), kSize, i)) << i;
    ++read_back;
  }
  EXPECT_EQ(read_back, on_ssd);
}

}  // namespace
}  // namespace kvc::store

// Stress with real processes: writers, readers and a remover work concurrently on
// one small key range while the master demotes DRAM replicas to SSD, evicts from
// SSD and promotes hot SSD replicas back, on a node whose DRAM and SSD each hold
// about a third of the range. Every value has one fixed content (a pattern of its
// key), so every successful Get must return exactly those bytes whatever moved
// under it: a range handed out twice, a stale lease-cache entry, a demotion or
// promotion racing a read would show up as wrong bytes.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kvc/common/reason.h"
#include "tests/store/store_cluster.h"

namespace kvc::store {
namespace {

using testing::FillPattern;
using testing::MatchesPattern;
using testing::StoreCluster;

constexpr uint64_t kSize = 32 << 10;
constexpr uint64_t kKeys = 96;  // 3 MiB over 1 MiB of DRAM and 1 MiB of SSD

BlockKey Key(uint64_t i) { return BlockKey{4242, i}; }

// What the threads saw; `unexpected` keeps the first status outside the allowed set.
struct Tally {
  std::atomic<uint64_t> puts{0}, gets{0}, verified{0}, removes{0}, wrong_bytes{0};
  std::mutex mu;
  std::vector<std::string> unexpected;
  void Unexpected(const std::string& op, const Status& s) {
    std::lock_guard lock(mu);
    if (unexpected.size() < 5) unexpected.push_back(op + ": " + s.ToString());
  }
};

TEST(StoreStressTest, ConcurrentPutGetRemoveDemoteEvictKeepEveryByte) {
  StoreCluster cluster({"--store-dram-high-watermark", "0.6", "--store-dram-low-watermark", "0.3",
                        "--store-ssd-high-watermark", "0.8", "--store-ssd-low-watermark", "0.5",
                        "--store-lease-ms", "100", "--store-promote-after-reads", "2",
                        "--store-put-timeout-ms", "2000"});
  cluster.StartMaster();
  cluster.StartNode("n1", 1 << 20, true, {"--store-ssd-bytes", std::to_string(1 << 20)});
  cluster.WaitStats([](const auto& s) { return s.nodes() == 1 && s.ssd_capacity_bytes() > 0; });

  constexpr int kWriters = 2, kReaders = 2;
  constexpr uint64_t kMinOps = 300;  // per thread, before the run may stop
  std::atomic<bool> stop{false};
  std::atomic<int> below_min{kWriters + kReaders + 1};
  Tally tally;
  std::vector<std::thread> threads;
  // Writers: put keys in turn (each thread from its own start), with their fixed content.
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      auto c = cluster.MakeClient(kSize);
      for (uint64_t n = 0; !stop || n < kMinOps; ++n) {
        if (n == kMinOps) --below_min;
        const uint64_t k = (n * 7 + w * 31) % kKeys;
        FillPattern(c->buffer.data(), kSize, k);
        const Status s = c->client->Put(Key(k), c->buffer.data(), kSize);
        if (s.ok()) {
          ++tally.puts;
        } else if (s.code() != absl::StatusCode::kAlreadyExists &&
                   ReasonCodeOf(s) != Reason::kNoSpace) {
          tally.Unexpected("put", s);
        }
      }
    });
  }
  // Readers (one with the lease cache, one without): every hit must be byte-exact.
  for (int r = 0; r < kReaders; ++r) {
    threads.emplace_back([&, r] {
      auto c = cluster.MakeClient(kSize, 1, /*lease_cache=*/r == 0);
      for (uint64_t n = 0; !stop || n < kMinOps; ++n) {
        if (n == kMinOps) --below_min;
        const uint64_t k = (n * 13 + r * 5) % kKeys;
        std::fill(c->buffer.begin(), c->buffer.end(), static_cast<char>(0xA5));
        auto got = c->client->Get(Key(k), c->buffer.data(), kSize);
        if (got.ok()) {
          ++tally.gets;
          if (*got == kSize && MatchesPattern(c->buffer.data(), kSize, k)) {
            ++tally.verified;
          } else {
            ++tally.wrong_bytes;
          }
        } else if (got.status().code() != absl::StatusCode::kNotFound) {
          tally.Unexpected("get", got.status());
        }
      }
    });
  }
  // Remover: drops keys (refused while leased or being written/demoted).
  threads.emplace_back([&] {
    auto c = cluster.MakeClient(kSize);
    for (uint64_t n = 0; !stop || n < kMinOps; ++n) {
      if (n == kMinOps) --below_min;
      const Status s = c->client->Remove(Key((n * 17) % kKeys));
      if (s.ok()) {
        ++tally.removes;
      } else if (s.code() != absl::StatusCode::kNotFound &&
                 s.code() != absl::StatusCode::kFailedPrecondition) {
        tally.Unexpected("remove", s);
      }
    }
  });
  // The run lasts until every thread did its minimum and the master has demoted,
  // evicted and promoted under it (or the deadline passes: then the asserts fail).
  const auto stats = cluster.WaitStats(
      [&](const auto& s) {
        return below_min == 0 && s.demotions() > 0 && s.evictions() > 0 && s.promotions() > 0;
      },
      std::chrono::milliseconds(60000));
  stop = true;
  for (auto& t : threads) t.join();

  std::lock_guard lock(tally.mu);
  RecordProperty("puts", std::to_string(tally.puts.load()));
  RecordProperty("gets", std::to_string(tally.gets.load()));
  RecordProperty("removes", std::to_string(tally.removes.load()));
  RecordProperty("demotions", std::to_string(stats.demotions()));
  RecordProperty("evictions", std::to_string(stats.evictions()));
  RecordProperty("promotions", std::to_string(stats.promotions()));
  EXPECT_TRUE(tally.unexpected.empty()) << tally.unexpected.front();
  EXPECT_EQ(tally.wrong_bytes.load(), 0u) << "of " << tally.gets.load() << " gets";
  EXPECT_GT(tally.verified.load(), 0u);
  EXPECT_GT(tally.puts.load(), 0u);
  EXPECT_GT(tally.removes.load(), 0u);
  EXPECT_GT(stats.demotions(), 0u);
  EXPECT_GT(stats.evictions(), 0u);
  EXPECT_GT(stats.promotions(), 0u);

  // Quiet now: each key either is stored (and reads back exactly) or is gone.
  auto c = cluster.MakeClient(kSize, 1, /*lease_cache=*/false);
  for (uint64_t k = 0; k < kKeys; ++k) {
    std::fill(c->buffer.begin(), c->buffer.end(), static_cast<char>(0xA5));
    auto got = c->client->Get(Key(k), c->buffer.data(), kSize);
    if (!got.ok()) {
      EXPECT_EQ(got.status().code(), absl::StatusCode::kNotFound) << k << ": " << got.status();
      continue;
    }
    EXPECT_EQ(*got, kSize) << k;
    EXPECT_TRUE(MatchesPattern(c->buffer.data(), kSize, k)) << "key " << k;
  }
}

}  // namespace
}  // namespace kvc::store

#include <gtest/gtest.h>

#include "store/master/master_core.h"
#include "store/master/master_core_test_util.h"

namespace kvc::store {
namespace {

using testing::CoreFixture;
using testing::Dram;
using testing::Key;
using testing::Ssd;

constexpr uint64_t kBlock = 1024;
constexpr uint64_t kCapacity = 100 * kBlock;

// Fills node n1's DRAM with `count` 1 KiB objects, keys 0..count-1.
void Fill(CoreFixture& f, uint64_t count) {
  for (uint64_t i = 0; i < count; ++i) ASSERT_TRUE(f.Put(Key(i), kBlock).ok()) << i;
}

// Above the high watermark, eviction brings usage to the low watermark, oldest first.
TEST(MasterCoreEvictionTest, WatermarksHoldAndLruOrderIsKept) {
  CoreFixture f;  // DRAM high 0.90, low 0.75
  ASSERT_TRUE(f.core.MountSegment(Dram("n1", kCapacity)).ok());
  Fill(f, 95);
  for (uint64_t i = 0; i < 5; ++i) ASSERT_TRUE(f.core.Get(Key(i), "").ok());  // 0..4 now recent
  f.Advance(f.policy.lease_ms + 1);
  f.core.Heartbeat("n1", {});
  f.core.Tick();
  const MasterStats s = f.core.Stats();
  EXPECT_LE(s.dram.bytes, kCapacity * 3 / 4);
  EXPECT_GE(s.dram.bytes, kCapacity * 3 / 4 - kBlock);
  EXPECT_EQ(s.evictions, 95u - s.objects);
  for (uint64_t i = 0; i < 5; ++i) EXPECT_TRUE(f.core.Exists(Key(i))) << "recently read key " << i;
  EXPECT_FALSE(f.core.Exists(Key(5)));  // least recently used goes first
  EXPECT_TRUE(f.core.Exists(Key(94)));
}

// Leased objects and objects still being written are never evicted.
TEST(MasterCoreEvictionTest, NeverEvictsLeasedOrInFlight) {
  CoreFixture f;
  ASSERT_TRUE(f.core.MountSegment(Dram("n1", kCapacity)).ok());
  Fill(f, 50);
  for (uint64_t i = 0; i < 50; ++i) ASSERT_TRUE(f.core.Get(Key(i), "").ok());
  for (uint64_t i = 50; i < 95; ++i) ASSERT_TRUE(f.core.PutStart(Key(i), kBlock, 1, "").ok());
  f.core.Tick();
  EXPECT_EQ(f.core.Stats().evictions, 0u);
  EXPECT_EQ(f.core.Stats().objects, 95u);
  // A put that needs space fails cleanly instead of evicting them.
  EXPECT_EQ(ReasonOf(f.core.PutStart(Key(200), 6 * kBlock, 1, "").status()), "NO_SPACE");
  // Once leases expire and puts end, eviction proceeds.
  for (uint64_t i = 50; i < 95; ++i) ASSERT_TRUE(f.core.PutEnd(Key(i)).ok());
  f.Advance(f.policy.lease_ms + 1);
  f.core.Heartbeat("n1", {});
  f.core.Tick();
  EXPECT_LE(f.core.Stats().dram.bytes, kCapacity * 3 / 4);
}

// A full segment makes room synchronously for a new put (no Tick needed).
TEST(MasterCoreEvictionTest, PutStartEvictsWhenFull) {
  CoreFixture f;
  ASSERT_TRUE(f.core.MountSegment(Dram("n1", kCapacity)).ok());
  Fill(f, 100);
  ASSERT_TRUE(f.core.PutStart(Key(500), kBlock, 1, "").ok());
  EXPECT_FALSE(f.core.Exists(Key(0)));
  EXPECT_GT(f.core.Stats().evictions, 0u);
}

// With an SSD tier, evicted DRAM replicas are demoted: the node gets a task, the
// DRAM copy stays readable until the node acknowledges, then only SSD remains.
TEST(MasterCoreEvictionTest, DemotesToSsdThroughNodeTask) {
  CoreFixture f;
  ASSERT_TRUE(f.core.MountSegment(Dram("n1", kCapacity)).ok());
  ASSERT_TRUE(f.core.MountSegment(Ssd("n1", 1000 * kBlock)).ok());
  Fill(f, 95);
  f.core.Tick();
  const std::vector<NodeTask> tasks =
      testing::TasksOf(f.core.Heartbeat("n1", {}), NodeTask::Kind::kDemote);
  ASSERT_FALSE(tasks.empty());
  EXPECT_EQ(tasks[0].kind, NodeTask::Kind::kDemote);
  const BlockKey demoted = tasks[0].key;
  EXPECT_EQ(demoted, Key(0));
  EXPECT_EQ(f.core.Stats().objects, 95u);  // nothing vanished
  // Before the ack the object is busy and still served from DRAM.
  auto before = f.core.Get(demoted, "");
  ASSERT_TRUE(before.ok());
  EXPECT_EQ(before->replicas[0].tier, Tier::kDram);
  EXPECT_EQ(ReasonOf(f.core.Remove(demoted)), "LEASED");
  f.Advance(f.policy.lease_ms + 1);
  EXPECT_EQ(ReasonOf(f.core.Remove(demoted)), "NOT_COMPLETE");
  std::vector<TaskResult> done;
  for (const NodeTask& t : tasks) done.push_back({t.id, true});
  f.core.Heartbeat("n1", done);
  auto after = f.core.Get(demoted, "");
  ASSERT_TRUE(after.ok());
  ASSERT_EQ(after->replicas.size(), 1u);
  EXPECT_EQ(after->replicas[0].tier, Tier::kSsd);
  const MasterStats s = f.core.Stats();
  EXPECT_EQ(s.demotions, tasks.size());
  EXPECT_EQ(s.ssd.replicas, tasks.size());
  EXPECT_LE(s.dram.bytes, kCapacity * 3 / 4);
  EXPECT_EQ(s.objects, 95u);
}

// A failed or timed-out demotion drops the DRAM copy instead (eviction wins).
TEST(MasterCoreEvictionTest, FailedDemotionDropsTheReplica) {
  CoreFixture f;
  ASSERT_TRUE(f.core.MountSegment(Dram("n1", kCapacity)).ok());
  ASSERT_TRUE(f.core.MountSegment(Ssd("n1", 1000 * kBlock)).ok());
  Fill(f, 95);
  f.core.Tick();
  const std::vector<NodeTask> tasks =
      testing::TasksOf(f.core.Heartbeat("n1", {}), NodeTask::Kind::kDemote);
  ASSERT_GT(tasks.size(), 1u);
  const TaskResult failed{tasks[0].id, false};
  f.core.Heartbeat("n1", std::span(&failed, 1));
  EXPECT_FALSE(f.core.Exists(tasks[0].key));
  f.Advance(f.policy.task_timeout_ms + 1);
  f.core.Heartbeat("n1", {});
  f.core.Tick();  // the rest time out
  EXPECT_FALSE(f.core.Exists(tasks[1].key));
  EXPECT_EQ(f.core.Stats().ssd.replicas, 0u);
}

// SSD segments have their own watermarks; SSD eviction tells the node to delete.
TEST(MasterCoreEvictionTest, SsdWatermarksDropWithNodeTasks) {
  MasterPolicyOptions p;
  p.ssd_high_watermark = 0.5;
  p.ssd_low_watermark = 0.2;
  CoreFixture f(p);
  ASSERT_TRUE(f.core.MountSegment(Dram("n1", kCapacity)).ok());
  ASSERT_TRUE(f.core.MountSegment(Ssd("n1", 40 * kBlock)).ok());
  std::vector<ReportedReplica> on_ssd;
  for (uint64_t i = 0; i < 30; ++i) on_ssd.push_back({Key(1000 + i), kBlock, 0});
  auto refused = f.core.ReportReplicas("n1", Tier::kSsd, on_ssd);
  ASSERT_TRUE(refused.ok());
  EXPECT_TRUE(refused->empty());
  f.core.Tick();
  EXPECT_LE(f.core.Stats().ssd.bytes, 8 * kBlock);
  const std::vector<NodeTask> tasks =
      testing::TasksOf(f.core.Heartbeat("n1", {}), NodeTask::Kind::kDropSsd);
  ASSERT_EQ(tasks.size(), 30u - 8u);
  EXPECT_EQ(tasks[0].kind, NodeTask::Kind::kDropSsd);
}

// A demotion that finishes while a reader holds a lease keeps the DRAM copy.
TEST(MasterCoreEvictionTest, DemotionKeepsDramWhileLeased) {
  CoreFixture f;
  ASSERT_TRUE(f.core.MountSegment(Dram("n1", kCapacity)).ok());
  ASSERT_TRUE(f.core.MountSegment(Ssd("n1", 1000 * kBlock)).ok());
  Fill(f, 95);
  f.core.Tick();
  const std::vector<NodeTask> tasks =
      testing::TasksOf(f.core.Heartbeat("n1", {}), NodeTask::Kind::kDemote);
  ASSERT_FALSE(tasks.empty());
  ASSERT_TRUE(f.core.Get(tasks[0].key, "").ok());
  const TaskResult ok{tasks[0].id, true};
  f.core.Heartbeat("n1", std::span(&ok, 1));
  auto got = f.core.Get(tasks[0].key, "");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->replicas.size(), 2u);
  EXPECT_EQ(got->replicas[0].tier, Tier::kDram);
}

// A freshly started master evicts nothing for one lease period: leases granted by
// a previous master instance may still be running.
TEST(MasterCoreEvictionTest, NoEvictionDuringStartupGrace) {
  MasterPolicyOptions policy;
  FakeClock clock;
  MetricsRegistry metrics;
  MasterCore core(policy, clock, metrics);
  ASSERT_TRUE(core.MountSegment(Dram("n1", kCapacity)).ok());
  for (uint64_t i = 0; i < 100; ++i) {
    ASSERT_TRUE(core.PutStart(Key(i), kBlock, 1, "").ok());
    ASSERT_TRUE(core.PutEnd(Key(i)).ok());
  }
  core.Tick();
  EXPECT_EQ(core.Stats().evictions, 0u);
  EXPECT_EQ(ReasonOf(core.PutStart(Key(500), kBlock, 1, "").status()), "NO_SPACE");
  clock.Advance(std::chrono::milliseconds(policy.lease_ms + 1));
  core.Heartbeat("n1", {});
  core.Tick();
  EXPECT_GT(core.Stats().evictions, 0u);
}

// Fragmentation of a DRAM segment is reported.
TEST(MasterCoreEvictionTest, ReportsFragmentation) {
  CoreFixture f;
  ASSERT_TRUE(f.core.MountSegment(Dram("n1", kCapacity)).ok());
  Fill(f, 10);
  EXPECT_DOUBLE_EQ(*f.core.Fragmentation("n1"), 0.0);
  for (uint64_t i = 0; i < 10; i += 2) ASSERT_TRUE(f.core.Remove(Key(i)).ok());
  EXPECT_GT(*f.core.Fragmentation("n1"), 0.0);
  EXPECT_EQ(ReasonOf(f.core.Fragmentation("zz").status()), "UNKNOWN_SEGMENT");
}

}  // namespace
}  // namespace kvc::store

// Promotion of hot SSD-only objects back into DRAM (master_core_promote.cc).
#include <gtest/gtest.h>

#include "store/master/master_core.h"
#include "store/master/master_core_test_util.h"

namespace kvc::store {
namespace {

using testing::CoreFixture;
using testing::Dram;
using testing::Key;
using testing::Ssd;
using testing::TasksOf;

constexpr uint64_t kBlock = 1024;

// n1 with 100 blocks of DRAM and an SSD tier holding key 7 only (SSD-only object).
struct PromoteFixture : CoreFixture {
  explicit PromoteFixture(MasterPolicyOptions p = {}) : CoreFixture(p) {
    EXPECT_TRUE(core.MountSegment(Dram("n1", 100 * kBlock)).ok());
    EXPECT_TRUE(core.MountSegment(Ssd("n1", 1000 * kBlock)).ok());
    const ReportedReplica on_ssd{Key(7), kBlock, 0};
    auto refused = core.ReportReplicas("n1", Tier::kSsd, std::span(&on_ssd, 1));
    EXPECT_TRUE(refused.ok() && refused->empty());
  }
  void Read(int times) {
    for (int i = 0; i < times; ++i) ASSERT_TRUE(core.Get(Key(7), "").ok());
  }
  std::vector<NodeTask> Promotions() {
    return TasksOf(core.Heartbeat("n1", {}), NodeTask::Kind::kPromote);
  }
};

TEST(MasterCorePromotionTest, HotSsdOnlyObjectIsPromotedAfterTheThreshold) {
  PromoteFixture f;  // promote_after_reads = 3
  f.Read(2);
  EXPECT_TRUE(f.Promotions().empty());
  f.Read(1);
  const std::vector<NodeTask> tasks = f.Promotions();
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].key, Key(7));
  EXPECT_EQ(tasks[0].size, kBlock);
  // Until the node acknowledges, readers still get the SSD copy only.
  auto got = f.core.Get(Key(7), "");
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->replicas.size(), 1u);
  EXPECT_EQ(got->replicas[0].tier, Tier::kSsd);
  EXPECT_EQ(f.core.Stats().promotions, 0u);

  const TaskResult ok{tasks[0].id, true};
  const HeartbeatReply reply = f.core.Heartbeat("n1", std::span(&ok, 1));
  const std::vector<NodeTask> record = TasksOf(reply, NodeTask::Kind::kRecord);
  ASSERT_EQ(record.size(), 1u);  // the node learns the key lives in its DRAM now
  EXPECT_EQ(record[0].offset, tasks[0].offset);
  got = f.core.Get(Key(7), "");
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->replicas.size(), 2u);
  EXPECT_EQ(got->replicas[0].tier, Tier::kDram);
  EXPECT_EQ(got->replicas[0].offset, tasks[0].offset);
  EXPECT_EQ(got->replicas[1].tier, Tier::kSsd);  // the SSD copy stays
  const MasterStats stats = f.core.Stats();
  EXPECT_EQ(stats.promotions, 1u);
  EXPECT_EQ(stats.dram.replicas, 1u);
  EXPECT_EQ(stats.dram.bytes, kBlock);
  EXPECT_NE(f.metrics.RenderPrometheus().find("kvc_store_promotions_total 1"), std::string::npos);
  f.Read(10);  // in DRAM now: no further promotion
  EXPECT_TRUE(f.Promotions().empty());
}

TEST(MasterCorePromotionTest, ReadsMustFallInsideTheWindow) {
  PromoteFixture f;
  f.Read(2);
  f.Advance(f.policy.promote_window_ms + 1);
  f.Read(2);  // the window restarted: 2 reads so far
  EXPECT_TRUE(f.Promotions().empty());
  f.Read(1);
  EXPECT_EQ(f.Promotions().size(), 1u);
}

TEST(MasterCorePromotionTest, FailedOrTimedOutPromotionDropsTheDramCopy) {
  PromoteFixture f;
  f.Read(3);
  std::vector<NodeTask> tasks = f.Promotions();
  ASSERT_EQ(tasks.size(), 1u);
  const TaskResult failed{tasks[0].id, false};
  f.core.Heartbeat("n1", std::span(&failed, 1));
  EXPECT_EQ(f.core.Stats().dram.replicas, 0u);
  EXPECT_EQ(f.core.Stats().dram.bytes, 0u);
  EXPECT_EQ(f.core.Stats().promotions, 0u);
  ASSERT_TRUE(f.core.Exists(Key(7)));  // the SSD copy is untouched

  f.Read(3);  // tries again; this time the node never answers
  tasks = f.Promotions();
  ASSERT_EQ(tasks.size(), 1u);
  f.Advance(f.policy.task_timeout_ms + 1);
  f.core.Heartbeat("n1", {});
  f.core.Tick();
  EXPECT_EQ(f.core.Stats().dram.replicas, 0u);
  EXPECT_EQ(f.core.Stats().promotions, 0u);
  // Busy flags were cleared: with the lease over, the object can be removed.
  EXPECT_TRUE(f.core.Remove(Key(7)).ok());
}

TEST(MasterCorePromotionTest, ObjectIsNotRemovedOrEvictedWhilePromoting) {
  PromoteFixture f;
  f.Read(3);
  ASSERT_EQ(f.Promotions().size(), 1u);
  f.Advance(f.policy.lease_ms + 1);
  EXPECT_EQ(ReasonOf(f.core.Remove(Key(7))), "NOT_COMPLETE");
}

TEST(MasterCorePromotionTest, NoPromotionAboveTheDramHighWatermarkOrWhenDisabled) {
  PromoteFixture full;
  for (uint64_t i = 100; i < 190; ++i) ASSERT_TRUE(full.Put(Key(i), kBlock).ok());  // 0.90 used
  full.Read(6);
  EXPECT_TRUE(full.Promotions().empty());

  MasterPolicyOptions off;
  off.promote_after_reads = 0;
  PromoteFixture disabled(off);
  disabled.Read(10);
  EXPECT_TRUE(disabled.Promotions().empty());
}

TEST(MasterCorePromotionTest, OptionsAreValidated) {
  MasterPolicyOptions p;
  p.promote_window_ms = 0;
  EXPECT_FALSE(ValidateMasterPolicy(p).ok());
  p.promote_after_reads = 0;
  EXPECT_TRUE(ValidateMasterPolicy(p).ok());
}

}  // namespace
}  // namespace kvc::store

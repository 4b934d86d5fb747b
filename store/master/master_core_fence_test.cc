// The take-over fence (MasterCore::FenceAllocations): no DRAM range is handed out
// until it ends, while reads, MatchPrefix and re-registration proceed.
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

// A fresh core fenced for 1 s, as after a take-over; n1 re-registered one complete
// DRAM object (key 1) and an SSD-only one (key 7).
struct FenceFixture : CoreFixture {
  FenceFixture() {
    core.FenceAllocations(clock.Now() + std::chrono::milliseconds(1000));
    EXPECT_TRUE(core.MountSegment(Dram("n1", 4 * kBlock)).ok());
    EXPECT_TRUE(core.MountSegment(Dram("n2", 4 * kBlock)).ok());
    EXPECT_TRUE(core.MountSegment(Ssd("n1", 100 * kBlock)).ok());
    const ReportedReplica dram{Key(1), kBlock, 0};
    auto refused = core.ReportReplicas("n1", Tier::kDram, std::span(&dram, 1));
    EXPECT_TRUE(refused.ok() && refused->empty());
    const ReportedReplica ssd{Key(7), kBlock, 0};
    refused = core.ReportReplicas("n1", Tier::kSsd, std::span(&ssd, 1));
    EXPECT_TRUE(refused.ok() && refused->empty());
  }
};

TEST(MasterCoreFenceTest, PutStartIsRefusedUntilTheFenceEndsAndChangesNothing) {
  FenceFixture f;
  const MasterStats before = f.core.Stats();
  auto refused = f.core.PutStart(Key(2), kBlock, 1, "");
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ReasonOf(refused.status()), "TAKEOVER_GRACE");
  EXPECT_NE(refused.status().message().find("1000 ms"), std::string_view::npos) << refused.status();
  EXPECT_EQ(f.core.Stats().objects, before.objects);
  EXPECT_EQ(f.core.Stats().dram.bytes, before.dram.bytes);
  // Bad input is still reported as such, not as the fence.
  EXPECT_EQ(ReasonOf(f.core.PutStart(Key(2), 0, 1, "").status()), "BAD_SIZE");

  f.Advance(999);
  EXPECT_EQ(ReasonOf(f.core.PutStart(Key(2), kBlock, 1, "").status()), "TAKEOVER_GRACE");
  f.Advance(1);
  EXPECT_TRUE(f.core.PutStart(Key(2), kBlock, 1, "").ok());
}

TEST(MasterCoreFenceTest, ReadsMatchPrefixAndRemovalProceed) {
  FenceFixture f;
  auto got = f.core.Get(Key(1), "");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->replicas.size(), 1u);
  const BlockKey keys[] = {Key(1)};
  auto match = f.core.MatchPrefix(keys);
  ASSERT_TRUE(match.ok());
  EXPECT_EQ(match->best_node_id, "n1");
  EXPECT_TRUE(f.core.Exists(Key(7)));
  EXPECT_TRUE(f.core.Remove(Key(7)).ok());  // not leased: Exists grants no lease
  EXPECT_FALSE(f.core.Exists(Key(7)));
}

TEST(MasterCoreFenceTest, GrowingChangeReplicaIsRefusedShrinkingIsNot) {
  FenceFixture f;
  auto grow = f.core.ChangeReplica(Key(1), 2);
  EXPECT_EQ(ReasonOf(grow.status()), "TAKEOVER_GRACE");
  EXPECT_TRUE(TasksOf(f.core.Heartbeat("n2", {}), NodeTask::Kind::kReplicate).empty());
  auto same = f.core.ChangeReplica(Key(1), 1);
  EXPECT_TRUE(same.ok()) << same.status();
  f.Advance(1000);
  grow = f.core.ChangeReplica(Key(1), 2);
  ASSERT_TRUE(grow.ok()) << grow.status();
  EXPECT_EQ(TasksOf(f.core.Heartbeat("n2", {}), NodeTask::Kind::kReplicate).size(), 1u);
}

TEST(MasterCoreFenceTest, PromotionWaitsForTheFence) {
  FenceFixture f;  // promote_after_reads = 3
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(f.core.Get(Key(7), "").ok());
  EXPECT_TRUE(TasksOf(f.core.Heartbeat("n1", {}), NodeTask::Kind::kPromote).empty());
  f.Advance(1000);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(f.core.Get(Key(7), "").ok());
  EXPECT_EQ(TasksOf(f.core.Heartbeat("n1", {}), NodeTask::Kind::kPromote).size(), 1u);
}

// A later, shorter fence does not shorten a running one.
TEST(MasterCoreFenceTest, FencesOnlyExtend) {
  FenceFixture f;
  f.core.FenceAllocations(f.clock.Now() + std::chrono::milliseconds(10));
  f.Advance(500);
  EXPECT_EQ(ReasonOf(f.core.PutStart(Key(2), kBlock, 1, "").status()), "TAKEOVER_GRACE");
}

}  // namespace
}  // namespace kvc::store

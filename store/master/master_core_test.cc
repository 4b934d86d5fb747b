#include "store/master/master_core.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "store/master/master_core_test_util.h"

namespace kvc::store {
namespace {

using testing::CoreFixture;
using testing::Dram;
using ::testing::ElementsAre;
using testing::Key;

// Mounting validates its input; re-mounting the same segment is idempotent.
TEST(MasterCoreTest, MountValidatesAndIsIdempotent) {
  CoreFixture f;
  EXPECT_EQ(ReasonOf(f.core.MountSegment(Dram("", 1024))), "BAD_SEGMENT");
  EXPECT_EQ(ReasonOf(f.core.MountSegment(Dram("n1", 0))), "BAD_SEGMENT");
  ASSERT_TRUE(f.core.MountSegment(Dram("n1", 1 << 20)).ok());
  EXPECT_TRUE(f.core.MountSegment(Dram("n1", 1 << 20)).ok());
  EXPECT_EQ(ReasonOf(f.core.MountSegment(Dram("n1", 2 << 20))), "SEGMENT_EXISTS");
  EXPECT_EQ(f.core.Stats().dram.capacity_bytes, 1u << 20);
  EXPECT_EQ(ReasonOf(f.core.UnmountSegment("n2", Tier::kDram)), "UNKNOWN_SEGMENT");
}

// A put is invisible until PutEnd, then Get returns its replica and a lease.
TEST(MasterCoreTest, TwoPhasePutBecomesVisibleAtPutEnd) {
  CoreFixture f;
  ASSERT_TRUE(f.core.MountSegment(Dram("n1", 1 << 20)).ok());
  auto started = f.core.PutStart(Key(1), 1000, 1, "");
  ASSERT_TRUE(started.ok()) << started.status();
  ASSERT_EQ(started->size(), 1u);
  EXPECT_EQ((*started)[0].node_id, "n1");
  EXPECT_EQ((*started)[0].length, 1000u);
  EXPECT_EQ((*started)[0].transfer_segment, "n1-dram");
  EXPECT_FALSE(f.core.Exists(Key(1)));
  EXPECT_EQ(f.core.Get(Key(1), "").status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(f.core.PutEnd(Key(1)).ok());
  EXPECT_TRUE(f.core.Exists(Key(1)));
  auto got = f.core.Get(Key(1), "");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->size, 1000u);
  ASSERT_EQ(got->replicas.size(), 1u);
  EXPECT_EQ(got->replicas[0].offset, (*started)[0].offset);
  EXPECT_EQ(got->replicas[0].state, ReplicaState::kComplete);
  EXPECT_EQ(got->lease_expires_unix_ms, f.clock.UnixMillis() + f.policy.lease_ms);
}

// Every bad put input from the issue gets a clear error and changes nothing.
TEST(MasterCoreTest, BadPutInputsAreRefused) {
  CoreFixture f;
  ASSERT_TRUE(f.core.MountSegment(Dram("n1", 1 << 20)).ok());
  EXPECT_EQ(ReasonOf(f.core.PutStart(Key(1), 0, 1, "").status()), "BAD_SIZE");
  EXPECT_EQ(ReasonOf(f.core.PutStart(Key(1), f.policy.max_object_bytes + 1, 1, "").status()),
            "BAD_SIZE");
  EXPECT_EQ(ReasonOf(f.core.PutStart(Key(1), 10, 99, "").status()), "BAD_REPLICAS");
  EXPECT_EQ(ReasonOf(f.core.PutEnd(Key(1))), "PUT_NOT_STARTED");
  EXPECT_EQ(ReasonOf(f.core.PutRevoke(Key(1))), "PUT_NOT_STARTED");
  ASSERT_TRUE(f.core.PutStart(Key(1), 10, 1, "").ok());
  EXPECT_EQ(ReasonOf(f.core.PutStart(Key(1), 10, 1, "").status()), "PUT_IN_PROGRESS");
  ASSERT_TRUE(f.core.PutEnd(Key(1)).ok());
  EXPECT_EQ(ReasonOf(f.core.PutEnd(Key(1))), "OBJECT_EXISTS");
  EXPECT_EQ(ReasonOf(f.core.PutStart(Key(1), 10, 1, "").status()), "OBJECT_EXISTS");
  EXPECT_EQ(f.core.Stats().objects, 1u);
  EXPECT_EQ(f.core.Stats().dram.bytes, 10u);
}

// Without any segment, or with values larger than every segment, puts fail NO_SPACE.
TEST(MasterCoreTest, NoSpaceIsReported) {
  CoreFixture f;
  EXPECT_EQ(ReasonOf(f.core.PutStart(Key(1), 10, 1, "").status()), "NO_SPACE");
  ASSERT_TRUE(f.core.MountSegment(Dram("n1", 4096)).ok());
  EXPECT_EQ(ReasonOf(f.core.PutStart(Key(1), 8192, 1, "").status()), "NO_SPACE");
  EXPECT_EQ(f.core.Stats().objects, 0u);
}

// Replicas land on distinct nodes: the preferred one first, then the most free.
TEST(MasterCoreTest, PlacementIsLocalFirstThenMostFree) {
  CoreFixture f;
  ASSERT_TRUE(f.core.MountSegment(Dram("a", 1 << 20)).ok());
  ASSERT_TRUE(f.core.MountSegment(Dram("b", 4 << 20)).ok());
  ASSERT_TRUE(f.core.MountSegment(Dram("c", 2 << 20)).ok());
  auto r = f.core.PutStart(Key(1), 100, 3, "c");
  ASSERT_TRUE(r.ok());
  std::vector<std::string> nodes;
  for (const auto& v : *r) nodes.push_back(v.node_id);
  EXPECT_THAT(nodes, ElementsAre("c", "b", "a"));
  auto more = f.core.PutStart(Key(2), 100, 5, "");  // only 3 nodes exist
  ASSERT_TRUE(more.ok());
  EXPECT_EQ(more->size(), 3u);
}

// PutRevoke frees the space; an abandoned PutStart is reclaimed after the timeout.
TEST(MasterCoreTest, RevokedAndAbandonedPutsFreeSpace) {
  CoreFixture f;
  ASSERT_TRUE(f.core.MountSegment(Dram("n1", 1 << 20)).ok());
  ASSERT_TRUE(f.core.PutStart(Key(1), 5000, 1, "").ok());
  ASSERT_TRUE(f.core.PutRevoke(Key(1)).ok());
  EXPECT_EQ(f.core.Stats().dram.bytes, 0u);
  ASSERT_TRUE(f.core.PutStart(Key(2), 5000, 1, "").ok());
  f.Advance(f.policy.put_timeout_ms - 1);
  f.core.Heartbeat("n1", {});
  f.core.Tick();
  EXPECT_EQ(f.core.Stats().objects, 1u);
  f.Advance(2);
  f.core.Heartbeat("n1", {});
  f.core.Tick();
  EXPECT_EQ(f.core.Stats().objects, 0u);
  EXPECT_EQ(ReasonOf(f.core.PutEnd(Key(2))), "PUT_NOT_STARTED");
  EXPECT_EQ(f.core.Stats().dram.bytes, 0u);
}

// Get orders replicas same host first, then least loaded.
TEST(MasterCoreTest, GetOrdersSameHostFirstThenLeastLoaded) {
  CoreFixture f;
  ASSERT_TRUE(f.core.MountSegment(Dram("a", 1 << 20, "h1")).ok());
  ASSERT_TRUE(f.core.MountSegment(Dram("b", 1 << 20, "h2")).ok());
  ASSERT_TRUE(f.core.MountSegment(Dram("reader", 1 << 10, "h2")).ok());
  ASSERT_TRUE(f.Put(Key(1), 100, 2, "a").ok());
  auto same_host = f.core.Get(Key(1), "reader");
  ASSERT_TRUE(same_host.ok());
  EXPECT_EQ(same_host->replicas[0].node_id, "b");
  // From an unknown reader, load decides: b just served a read, so a comes first.
  auto balanced = f.core.Get(Key(1), "");
  ASSERT_TRUE(balanced.ok());
  EXPECT_EQ(balanced->replicas[0].node_id, "a");
  auto next = f.core.Get(Key(1), "");
  EXPECT_EQ(next->replicas.size(), 2u);
}

// BatchGet answers per key; missing keys are per-entry NOT_FOUND; hits/misses counted.
TEST(MasterCoreTest, BatchGetAndBatchExistsPerKey) {
  CoreFixture f;
  ASSERT_TRUE(f.core.MountSegment(Dram("n1", 1 << 20)).ok());
  ASSERT_TRUE(f.Put(Key(1), 10).ok());
  ASSERT_TRUE(f.Put(Key(3), 30).ok());
  std::vector<BlockKey> keys = {Key(1), Key(2), Key(3)};
  auto got = f.core.BatchGet(keys, "");
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 3u);
  EXPECT_TRUE((*got)[0].ok());
  EXPECT_EQ((*got)[1].status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ((*got)[2]->size, 30u);
  auto exists = f.core.BatchExists(keys);
  ASSERT_TRUE(exists.ok());
  EXPECT_THAT(*exists, ElementsAre(true, false, true));
  EXPECT_EQ(f.core.Stats().hits, 2u);
  EXPECT_EQ(f.core.Stats().misses, 1u);
}

// Remove refuses leased and in-flight objects, and works once the lease expires.
TEST(MasterCoreTest, RemoveRespectsLeasesAndInFlightPuts) {
  CoreFixture f;
  ASSERT_TRUE(f.core.MountSegment(Dram("n1", 1 << 20)).ok());
  EXPECT_EQ(ReasonOf(f.core.Remove(Key(1))), "NOT_FOUND");
  ASSERT_TRUE(f.core.PutStart(Key(2), 10, 1, "").ok());
  EXPECT_EQ(ReasonOf(f.core.Remove(Key(2))), "NOT_COMPLETE");
  ASSERT_TRUE(f.Put(Key(1), 10).ok());
  ASSERT_TRUE(f.core.Get(Key(1), "").ok());
  EXPECT_EQ(ReasonOf(f.core.Remove(Key(1))), "LEASED");
  f.Advance(f.policy.lease_ms + 1);
  EXPECT_TRUE(f.core.Remove(Key(1)).ok());
  EXPECT_FALSE(f.core.Exists(Key(1)));
}

// A node that stops heartbeating is declared dead and its replicas dropped; the
// object survives on another node and Get falls back to it.
TEST(MasterCoreTest, DeadNodeReplicasAreDropped) {
  CoreFixture f;
  ASSERT_TRUE(f.core.MountSegment(Dram("a", 1 << 20)).ok());
  ASSERT_TRUE(f.core.MountSegment(Dram("b", 1 << 20)).ok());
  ASSERT_TRUE(f.Put(Key(1), 10, 2).ok());
  ASSERT_TRUE(f.Put(Key(2), 10, 1, "a").ok());
  f.Advance(f.policy.node_timeout_ms / 2);
  f.core.Heartbeat("b", {});
  f.Advance(f.policy.node_timeout_ms / 2 + 1);
  f.core.Tick();
  EXPECT_EQ(f.core.Stats().nodes, 1u);
  EXPECT_FALSE(f.core.Exists(Key(2)));
  auto got = f.core.Get(Key(1), "");
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->replicas.size(), 1u);
  EXPECT_EQ(got->replicas[0].node_id, "b");
  EXPECT_TRUE(f.core.Heartbeat("a", {}).reregister);
  EXPECT_FALSE(f.core.Heartbeat("b", {}).reregister);
}

// After a master restart, nodes re-report their contents and the master converges.
TEST(MasterCoreTest, ReportReplicasRebuildsState) {
  CoreFixture old_master;
  ASSERT_TRUE(old_master.core.MountSegment(Dram("a", 1 << 20)).ok());
  auto placed = old_master.core.PutStart(Key(1), 700, 1, "");
  ASSERT_TRUE(placed.ok());
  CoreFixture f;  // the restarted master knows nothing
  EXPECT_TRUE(f.core.Heartbeat("a", {}).reregister);
  std::vector<ReportedReplica> report = {{Key(1), 700, (*placed)[0].offset},
                                         {Key(2), 100, (*placed)[0].offset},  // overlaps
                                         {Key(3), 0, 4096}};                  // bad size
  EXPECT_EQ(ReasonOf(f.core.ReportReplicas("a", Tier::kDram, report).status()), "UNKNOWN_SEGMENT");
  ASSERT_TRUE(f.core.MountSegment(Dram("a", 1 << 20)).ok());
  auto refused = f.core.ReportReplicas("a", Tier::kDram, report);
  ASSERT_TRUE(refused.ok());
  EXPECT_THAT(*refused, ElementsAre(Key(2), Key(3)));
  auto got = f.core.Get(Key(1), "");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->replicas[0].offset, (*placed)[0].offset);
  EXPECT_FALSE(f.core.Exists(Key(2)));
  // New puts never overlap the reported range.
  auto fresh = f.core.PutStart(Key(4), 700, 1, "");
  ASSERT_TRUE(fresh.ok());
  EXPECT_NE((*fresh)[0].offset, (*placed)[0].offset);
}

// MatchPrefix counts leading keys per node and picks the best node.
TEST(MasterCoreTest, MatchPrefixCountsLeadingKeysPerNode) {
  CoreFixture f;
  ASSERT_TRUE(f.core.MountSegment(Dram("a", 1 << 20)).ok());
  ASSERT_TRUE(f.core.MountSegment(Dram("b", 1 << 20)).ok());
  for (uint64_t i = 0; i < 5; ++i) ASSERT_TRUE(f.Put(Key(i), 10, 1, "a").ok());
  for (uint64_t i = 0; i < 2; ++i) ASSERT_TRUE(f.core.ChangeReplica(Key(i), 2).ok());
  // Replicas on b are still being copied: they do not count yet.
  std::vector<BlockKey> keys = {Key(0), Key(1), Key(2), Key(3), Key(4), Key(5)};
  auto m = f.core.MatchPrefix(keys);
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->nodes.size(), 1u);
  EXPECT_EQ(m->best_node_id, "a");
  EXPECT_EQ(m->best_matched_blocks, 5u);
  auto tasks = testing::TasksOf(f.core.Heartbeat("b", {}), NodeTask::Kind::kReplicate);
  ASSERT_EQ(tasks.size(), 2u);
  std::vector<TaskResult> done = {{tasks[0].id, true}, {tasks[1].id, true}};
  f.core.Heartbeat("b", done);
  m = f.core.MatchPrefix(keys);
  ASSERT_EQ(m->nodes.size(), 2u);
  EXPECT_EQ(m->nodes[1].node_id, "b");
  EXPECT_EQ(m->nodes[1].matched_blocks, 2u);
  // A hole stops the count even when later keys are held.
  keys = {Key(9), Key(0)};
  m = f.core.MatchPrefix(keys);
  EXPECT_TRUE(m->nodes.empty());
  EXPECT_EQ(m->best_node_id, "");
  EXPECT_TRUE(f.core.MatchPrefix({}).ok());
}

// MatchPrefix with 100k keys answers correctly; above max_batch_keys it refuses.
TEST(MasterCoreTest, MatchPrefixHandlesHugeRequests) {
  MasterPolicyOptions p;
  p.max_batch_keys = 200'000;
  CoreFixture f(p);
  ASSERT_TRUE(f.core.MountSegment(Dram("a", 64 << 20)).ok());
  for (uint64_t i = 0; i < 1000; ++i) ASSERT_TRUE(f.Put(Key(i), 64).ok());
  std::vector<BlockKey> keys;
  for (uint64_t i = 0; i < 100'000; ++i) keys.push_back(Key(i));
  auto m = f.core.MatchPrefix(keys);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->best_matched_blocks, 1000u);
  keys.resize(200'001);
  EXPECT_EQ(ReasonOf(f.core.MatchPrefix(keys).status()), "BAD_KEYS");
  EXPECT_EQ(ReasonOf(f.core.BatchGet(keys, "").status()), "BAD_KEYS");
  EXPECT_EQ(ReasonOf(f.core.BatchExists(keys).status()), "BAD_KEYS");
}

// ChangeReplica adds copies through node tasks and drops them again; bad n is refused.
TEST(MasterCoreTest, ChangeReplicaAddsAndDrops) {
  CoreFixture f;
  ASSERT_TRUE(f.core.MountSegment(Dram("a", 1 << 20)).ok());
  ASSERT_TRUE(f.core.MountSegment(Dram("b", 1 << 20)).ok());
  ASSERT_TRUE(f.Put(Key(1), 100, 1, "a").ok());
  EXPECT_EQ(ReasonOf(f.core.ChangeReplica(Key(1), 0).status()), "BAD_REPLICAS");
  EXPECT_EQ(ReasonOf(f.core.ChangeReplica(Key(7), 2).status()), "NOT_FOUND");
  auto r = f.core.ChangeReplica(Key(1), 2);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[1].node_id, "b");
  EXPECT_EQ((*r)[1].state, ReplicaState::kWriting);
  auto tasks = testing::TasksOf(f.core.Heartbeat("b", {}), NodeTask::Kind::kReplicate);
  ASSERT_EQ(tasks.size(), 1u);
  EXPECT_EQ(tasks[0].kind, NodeTask::Kind::kReplicate);
  EXPECT_EQ(tasks[0].source.node_id, "a");
  // A failed copy drops the new replica.
  const TaskResult failed{tasks[0].id, false};
  f.core.Heartbeat("b", std::span(&failed, 1));
  EXPECT_EQ(f.core.Get(Key(1), "")->replicas.size(), 1u);
  f.Advance(f.policy.lease_ms + 1);
  ASSERT_TRUE(f.core.ChangeReplica(Key(1), 2).ok());
  tasks = testing::TasksOf(f.core.Heartbeat("b", {}), NodeTask::Kind::kReplicate);
  ASSERT_EQ(tasks.size(), 1u);
  const TaskResult ok{tasks[0].id, true};
  f.core.Heartbeat("b", std::span(&ok, 1));
  EXPECT_EQ(f.core.Get(Key(1), "")->replicas.size(), 2u);
  EXPECT_EQ(ReasonOf(f.core.ChangeReplica(Key(1), 1).status()), "LEASED");
  f.Advance(f.policy.lease_ms + 1);
  auto dropped = f.core.ChangeReplica(Key(1), 1);
  ASSERT_TRUE(dropped.ok());
  EXPECT_EQ(dropped->size(), 1u);
}

// Nodes learn their DRAM contents (for re-registration) from record/forget tasks.
TEST(MasterCoreTest, NodesAreToldWhatTheyHold) {
  CoreFixture f;
  ASSERT_TRUE(f.core.MountSegment(Dram("a", 1 << 20)).ok());
  auto placed = f.core.PutStart(Key(1), 100, 1, "");
  ASSERT_TRUE(placed.ok());
  EXPECT_TRUE(f.core.Heartbeat("a", {}).tasks.empty());  // not complete yet
  ASSERT_TRUE(f.core.PutEnd(Key(1)).ok());
  auto records = testing::TasksOf(f.core.Heartbeat("a", {}), NodeTask::Kind::kRecord);
  ASSERT_EQ(records.size(), 1u);
  EXPECT_EQ(records[0].key, Key(1));
  EXPECT_EQ(records[0].offset, (*placed)[0].offset);
  ASSERT_TRUE(f.core.Remove(Key(1)).ok());
  auto forgets = testing::TasksOf(f.core.Heartbeat("a", {}), NodeTask::Kind::kForget);
  ASSERT_EQ(forgets.size(), 1u);
  EXPECT_EQ(forgets[0].key, Key(1));
}

// Metrics follow the operations (objects, bytes per tier, hits, puts).
TEST(MasterCoreTest, MetricsAreExported) {
  CoreFixture f;
  ASSERT_TRUE(f.core.MountSegment(Dram("a", 1 << 20)).ok());
  ASSERT_TRUE(f.Put(Key(1), 100).ok());
  ASSERT_TRUE(f.core.Get(Key(1), "").ok());
  ASSERT_TRUE(f.core.MatchPrefix(std::vector<BlockKey>{Key(1)}).ok());
  f.core.Heartbeat("a", {});
  f.core.Tick();
  const std::string text = f.metrics.RenderPrometheus();
  EXPECT_NE(text.find("kvc_store_bytes{tier=\"dram\"} 100"), std::string::npos) << text;
  EXPECT_NE(text.find("kvc_store_objects 1"), std::string::npos);
  EXPECT_NE(text.find("kvc_store_get_hits_total 1"), std::string::npos);
  EXPECT_NE(text.find("kvc_store_puts_total 1"), std::string::npos);
  EXPECT_NE(text.find("kvc_store_match_prefix_seconds_count 1"), std::string::npos);
}

// Puts and gets per second are gauges over the window since the previous update.
TEST(MasterCoreTest, RatesArePublishedEverySecond) {
  CoreFixture f;
  ASSERT_TRUE(f.core.MountSegment(Dram("a", 1 << 20)).ok());
  f.core.Tick();  // closes the start-up window
  for (uint64_t i = 0; i < 4; ++i) ASSERT_TRUE(f.Put(Key(i), 100).ok());
  for (uint64_t i = 0; i < 6; ++i) (void)f.core.Get(Key(i), "");  // 4 hits, 2 misses
  f.Advance(500);
  f.core.Tick();  // under a second: no update yet
  std::string text = f.metrics.RenderPrometheus();
  EXPECT_NE(text.find("kvc_store_puts_per_second 0\n"), std::string::npos) << text;
  f.Advance(1500);
  f.core.Heartbeat("a", {});
  f.core.Tick();
  text = f.metrics.RenderPrometheus();
  EXPECT_NE(text.find("kvc_store_puts_per_second 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("kvc_store_gets_per_second 3\n"), std::string::npos) << text;
}

}  // namespace
}  // namespace kvc::store

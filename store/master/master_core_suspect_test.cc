// MasterCore: puts replace replicas held only by suspect nodes; node expiry is
// reported and counted.
#include <gtest/gtest.h>

#include "store/master/master_core.h"
#include "store/master/master_core_test_util.h"

namespace kvc::store {
namespace {

using testing::CoreFixture;
using testing::Dram;
using testing::Key;

MasterPolicyOptions Policy() {
  MasterPolicyOptions p;
  p.heartbeat_interval_ms = 100;
  p.node_suspect_ms = 300;
  p.node_timeout_ms = 5000;
  p.lease_ms = 1000;
  return p;
}

double Value(CoreFixture& f, const std::string& name, const Labels& labels = {}) {
  return f.metrics.GetCounter(name, "", labels).Value();
}

// A key held only on a node that missed heartbeats is put again (the old replica
// dropped) instead of answering OBJECT_EXISTS; on a live node it still exists.
TEST(MasterCoreSuspectTest, PutReplacesReplicasOnlyOnSilentNodes) {
  CoreFixture f(Policy());
  ASSERT_TRUE(f.core.MountSegment(Dram("dead", 1 << 20)).ok());
  ASSERT_TRUE(f.core.MountSegment(Dram("live", 1 << 20)).ok());
  ASSERT_TRUE(f.Put(Key(1), 1000, 1, "dead").ok());
  ASSERT_TRUE(f.Put(Key(2), 1000, 1, "live").ok());
  f.Advance(200);  // within store.node_suspect_ms: still trusted
  (void)f.core.Heartbeat("live", {});
  EXPECT_EQ(ReasonOf(f.Put(Key(1), 1000, 1, "live")), "OBJECT_EXISTS");
  f.Advance(200);  // "dead" silent for 400 ms > 300 ms
  (void)f.core.Heartbeat("live", {});
  EXPECT_EQ(ReasonOf(f.Put(Key(2), 1000, 1, "live")), "OBJECT_EXISTS");
  auto again = f.core.PutStart(Key(1), 1000, 1, "live");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)[0].node_id, "live");
  ASSERT_TRUE(f.core.PutEnd(Key(1)).ok());
  auto got = f.core.Get(Key(1), "");
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->replicas.size(), 1u);
  EXPECT_EQ(got->replicas[0].node_id, "live");
  EXPECT_EQ(Value(f, "kvc_store_replaced_replicas_total", {{"reason", "silent"}}), 1);
}

// A client's report makes a heart-beating node suspect at once, until its next
// heartbeat; reports about unknown nodes are refused.
TEST(MasterCoreSuspectTest, ReportUnreachableMakesANodeSuspectUntilItHeartbeats) {
  CoreFixture f(Policy());
  ASSERT_TRUE(f.core.MountSegment(Dram("a", 1 << 20)).ok());
  ASSERT_TRUE(f.core.MountSegment(Dram("b", 1 << 20)).ok());
  ASSERT_TRUE(f.Put(Key(1), 1000, 1, "a").ok());
  ASSERT_TRUE(f.Put(Key(2), 1000, 1, "a").ok());
  EXPECT_EQ(ReasonOf(f.core.ReportUnreachable("nobody")), "UNKNOWN_NODE");
  ASSERT_TRUE(f.core.ReportUnreachable("a").ok());
  EXPECT_TRUE(f.Put(Key(1), 1000, 1, "b").ok());
  EXPECT_EQ(Value(f, "kvc_store_replaced_replicas_total", {{"reason", "reported_unreachable"}}), 1);
  EXPECT_EQ(Value(f, "kvc_store_unreachable_reports_total"), 1);
  (void)f.core.Heartbeat("a", {});  // alive after all
  EXPECT_EQ(ReasonOf(f.Put(Key(2), 1000, 1, "b")), "OBJECT_EXISTS");
}

// A key with a replica on a live node is never replaced, even if another is suspect.
TEST(MasterCoreSuspectTest, OneLiveReplicaKeepsTheObject) {
  CoreFixture f(Policy());
  ASSERT_TRUE(f.core.MountSegment(Dram("a", 1 << 20)).ok());
  ASSERT_TRUE(f.core.MountSegment(Dram("b", 1 << 20)).ok());
  ASSERT_TRUE(f.Put(Key(1), 1000, 2, "a").ok());
  ASSERT_TRUE(f.core.ReportUnreachable("a").ok());
  EXPECT_EQ(ReasonOf(f.Put(Key(1), 1000, 1, "b")), "OBJECT_EXISTS");
}

// A replaced replica's DRAM range stays allocated while a reader's lease runs,
// so a late reader of the suspect node never sees another object's bytes there.
TEST(MasterCoreSuspectTest, ReplacedRangeIsNotReusedBeforeTheLeaseEnds) {
  CoreFixture f(Policy());
  ASSERT_TRUE(f.core.MountSegment(Dram("a", 4096)).ok());
  ASSERT_TRUE(f.core.MountSegment(Dram("b", 1 << 20)).ok());
  ASSERT_TRUE(f.Put(Key(1), 4096, 1, "a").ok());
  ASSERT_TRUE(f.core.Get(Key(1), "reader").ok());  // lease for 1000 ms
  ASSERT_TRUE(f.core.ReportUnreachable("a").ok());
  ASSERT_TRUE(f.Put(Key(1), 4096, 1, "b").ok());
  (void)f.core.Heartbeat("a", {});
  auto on_a = f.core.PutStart(Key(2), 4096, 1, "a");
  ASSERT_TRUE(on_a.ok());
  EXPECT_EQ((*on_a)[0].node_id, "b") << "a's only range is still held for the reader";
  ASSERT_TRUE(f.core.PutRevoke(Key(2)).ok());
  f.Advance(1001);
  (void)f.core.Heartbeat("a", {});
  (void)f.core.Heartbeat("b", {});
  f.core.Tick();
  auto later = f.core.PutStart(Key(3), 4096, 1, "a");
  ASSERT_TRUE(later.ok());
  EXPECT_EQ((*later)[0].node_id, "a");
}

// Expiry drops the node and its replicas, and says so: the report lists the
// node with its replica count and the counters follow.
TEST(MasterCoreSuspectTest, ExpiredNodesAreReportedAndCounted) {
  CoreFixture f(Policy());
  ASSERT_TRUE(f.core.MountSegment(Dram("gone", 1 << 20, "host-g")).ok());
  ASSERT_TRUE(f.core.MountSegment(Dram("kept", 1 << 20)).ok());
  for (uint64_t i = 0; i < 3; ++i) ASSERT_TRUE(f.Put(Key(i), 100, 1, "gone").ok());
  EXPECT_TRUE(f.core.Tick().expired_nodes.empty());
  f.Advance(5001);
  (void)f.core.Heartbeat("kept", {});
  const TickReport report = f.core.Tick();
  ASSERT_EQ(report.expired_nodes.size(), 1u);
  EXPECT_EQ(report.expired_nodes[0].node_id, "gone");
  EXPECT_EQ(report.expired_nodes[0].hostname, "host-g");
  EXPECT_EQ(report.expired_nodes[0].dropped_replicas, 3u);
  EXPECT_GE(report.expired_nodes[0].silent_ms, 5001u);
  EXPECT_EQ(Value(f, "kvc_store_expired_nodes_total"), 1);
  EXPECT_EQ(Value(f, "kvc_store_expired_replicas_total"), 3);
  EXPECT_EQ(f.core.Stats().nodes, 1u);
}

// store.node_suspect_ms: auto is min(2.5 heartbeats, node timeout); bad values are refused.
TEST(MasterCoreSuspectTest, SuspectAfterOption) {
  MasterPolicyOptions p;
  EXPECT_EQ(NodeSuspectMs(p), 2500u);
  p.node_timeout_ms = 2000;
  EXPECT_EQ(NodeSuspectMs(p), 2000u);
  p.node_suspect_ms = 5000;
  EXPECT_NE(ValidateMasterPolicy(p).message().find("store.node_suspect_ms"), std::string::npos);
  p.node_suspect_ms = 1500;
  EXPECT_TRUE(ValidateMasterPolicy(p).ok());
}

}  // namespace
}  // namespace kvc::store

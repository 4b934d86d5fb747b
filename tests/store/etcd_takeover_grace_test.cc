// The etcd take-over write race, closed: a put whose PutStart the old leader
// granted may still be writing into node memory after a standby takes over. The
// new leader rebuilds its view from the nodes, sees that range as free, and must
// not hand it out again until such writes have landed: it refuses PutStart with
// UNAVAILABLE TAKEOVER_GRACE for --takeover-grace-ms, while reads go on. Real
// etcd, real kvc-master processes; the node is played over raw gRPC so the test
// sees exactly which range each master grants.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "kvc/rpc/client.h"
#include "kvc/rpc/grpc_status.h"
#include "kvc/v1/store_master.grpc.pb.h"
#include "tests/store/etcd_cluster.h"

namespace kvc::store {
namespace {

using std::chrono::milliseconds;
using SteadyClock = std::chrono::steady_clock;

constexpr int64_t kGraceMs = 2000;
constexpr uint64_t kCapacity = 64 << 10;  // room for exactly one value of kCapacity bytes

std::unique_ptr<grpc::ClientContext> Ctx() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  return ctx;
}

v1::BlockKey Key(uint64_t i) {
  v1::BlockKey k;
  k.set_hi(77);
  k.set_lo(i);
  return k;
}

Status Mount(v1::StoreMaster::Stub& stub) {
  v1::MountSegmentRequest req;
  v1::SegmentInfo* s = req.mutable_segment();
  s->set_node_id("n1");
  s->set_hostname("h1");
  s->set_tier(v1::STORAGE_TIER_DRAM);
  s->set_capacity_bytes(kCapacity);
  s->set_transfer_segment("n1-seg");
  s->set_base_address(1 << 20);
  v1::MountSegmentResponse resp;
  return FromGrpcStatus(stub.MountSegment(Ctx().get(), req, &resp));
}

// PutStart of one kCapacity-byte value; the granted transfer address.
StatusOr<uint64_t> PutStart(v1::StoreMaster::Stub& stub, uint64_t key) {
  v1::PutStartRequest req;
  *req.mutable_key() = Key(key);
  req.set_size(kCapacity);
  req.set_replicas(1);
  v1::PutStartResponse resp;
  KVC_RETURN_IF_ERROR(FromGrpcStatus(stub.PutStart(Ctx().get(), req, &resp)));
  if (resp.replicas_size() != 1) return absl::InternalError("expected one replica");
  return resp.replicas(0).location().offset();
}

TEST(EtcdTakeoverGraceTest, NewLeaderRegrantsNoRangeInsideTheGraceWindow) {
  if (!testing::HaveEtcd()) GTEST_SKIP() << "/usr/bin/etcd not installed";
  testing::EtcdCluster cluster;
  ASSERT_TRUE(cluster.WaitUp());
  // The test's node mounts but never heartbeats: keep it from turning suspect
  // (no new ranges on suspect nodes) while the grace window runs.
  const std::vector<std::string> flags = {"--takeover-grace-ms",     std::to_string(kGraceMs),
                                          "--store-node-timeout-ms", "60000",
                                          "--store-node-suspect-ms", "60000"};
  ASSERT_NE(cluster.StartMaster(0, flags), "");
  const std::string first = cluster.WaitLeader("", milliseconds(10000));
  ASSERT_TRUE(cluster.IsMaster(first));
  ASSERT_NE(cluster.StartMaster(1, flags), "");

  // The first leader ever under this prefix has no predecessor: no grace.
  auto old_stub = v1::StoreMaster::NewStub(MakeChannel(first));
  ASSERT_TRUE(Mount(*old_stub).ok());
  auto granted = PutStart(*old_stub, 1);
  ASSERT_TRUE(granted.ok()) << granted.status();
  // The old leader dies while "the client" is still writing into `granted`.
  cluster.KillMaster(first);

  const std::string second = cluster.WaitLeader(first, milliseconds(15000));
  ASSERT_TRUE(cluster.IsMaster(second)) << "no standby took over";
  auto stub = v1::StoreMaster::NewStub(MakeChannel(second));
  // The node re-registers as soon as the new leader answers (it held no complete
  // object, so it reports nothing): the whole segment looks free.
  Status mounted = absl::UnknownError("not tried");
  SteadyClock::time_point answered;
  const auto deadline = SteadyClock::now() + std::chrono::seconds(10);
  while (!mounted.ok() && SteadyClock::now() < deadline) {
    mounted = Mount(*stub);
    answered = SteadyClock::now();
    if (!mounted.ok()) std::this_thread::sleep_for(milliseconds(20));
  }
  ASSERT_TRUE(mounted.ok()) << mounted;

  // Right after the take-over: refused, and nothing changed.
  auto refused = PutStart(*stub, 2);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ReasonOf(refused.status()), "TAKEOVER_GRACE") << refused.status();
  // Reads and prefix matching go on meanwhile.
  v1::MatchPrefixRequest match;
  *match.add_keys() = Key(1);
  v1::MatchPrefixResponse match_resp;
  EXPECT_TRUE(stub->MatchPrefix(Ctx().get(), match, &match_resp).ok());
  v1::GetStatsResponse stats;
  ASSERT_TRUE(stub->GetStats(Ctx().get(), v1::GetStatsRequest(), &stats).ok());
  EXPECT_EQ(stats.objects(), 0u);
  EXPECT_EQ(stats.dram_bytes(), 0u);

  // Ask again and again: every answer inside the grace window is a refusal; the
  // first grant comes after it, and only then is the old range handed out again.
  StatusOr<uint64_t> regranted = refused;
  while (!regranted.ok() && SteadyClock::now() < answered + milliseconds(kGraceMs + 5000)) {
    ASSERT_EQ(ReasonOf(regranted.status()), "TAKEOVER_GRACE") << regranted.status();
    std::this_thread::sleep_for(milliseconds(50));
    regranted = PutStart(*stub, 2);
  }
  const auto waited = SteadyClock::now() - answered;
  ASSERT_TRUE(regranted.ok()) << regranted.status();
  EXPECT_EQ(*regranted, *granted) << "the only range is the one the old leader granted";
  // The new leader was elected before it first answered, so its window ends at
  // most one poll (+ RPC) after grace - (answer - election): allow 250 ms.
  EXPECT_GE(waited, milliseconds(kGraceMs - 250));
  EXPECT_LT(waited, milliseconds(kGraceMs + 2000));
}

// A leader that cannot reach etcd stops acting as one before its lease can have
// expired (so before a standby can win): etcd frozen, the leader's keep-alive
// hangs, and within TTL − margin of the last keep-alive it answers NOT_LEADER,
// then exits when the keep-alive fails.
TEST(EtcdTakeoverGraceTest, LeaderStopsServingBeforeItsLeaseCanExpire) {
  if (!testing::HaveEtcd()) GTEST_SKIP() << "/usr/bin/etcd not installed";
  testing::EtcdCluster cluster;
  ASSERT_TRUE(cluster.WaitUp());
  ASSERT_NE(cluster.StartMaster(0), "");
  const std::string leader = cluster.WaitLeader("", milliseconds(10000));
  ASSERT_TRUE(cluster.IsMaster(leader));
  auto stub = v1::StoreMaster::NewStub(MakeChannel(leader));
  // Serving as leader first.
  Status s = absl::UnknownError("not tried");
  const auto serve_deadline = SteadyClock::now() + std::chrono::seconds(5);
  while (!s.ok() && SteadyClock::now() < serve_deadline) {
    v1::GetStatsResponse stats;
    s = FromGrpcStatus(stub->GetStats(Ctx().get(), v1::GetStatsRequest(), &stats));
    if (!s.ok()) std::this_thread::sleep_for(milliseconds(20));
  }
  ASSERT_TRUE(s.ok()) << s;

  cluster.FreezeEtcd(true);
  const auto frozen = SteadyClock::now();
  std::optional<SteadyClock::duration> refused_after;
  while (!refused_after && SteadyClock::now() < frozen + std::chrono::seconds(5)) {
    v1::GetStatsResponse stats;
    s = FromGrpcStatus(stub->GetStats(Ctx().get(), v1::GetStatsRequest(), &stats));
    if (ReasonOf(s) == "NOT_LEADER") refused_after = SteadyClock::now() - frozen;
    std::this_thread::sleep_for(milliseconds(25));
  }
  cluster.FreezeEtcd(false);
  ASSERT_TRUE(refused_after.has_value()) << "last answer: " << s;
  EXPECT_NE(s.message().find("cannot confirm"), std::string_view::npos) << s;
  // It gave up TTL − margin (1.8 s) after its last keep-alive was sent, which was
  // before the freeze, and etcd cannot expire the lease before TTL after that.
  // Without this guard it would serve until that keep-alive timed out (2 s after
  // being sent, up to TTL/3 after the freeze) and then exit, and the first
  // NOT_LEADER seen would be a standby's, not "cannot confirm".
  EXPECT_LT(*refused_after, milliseconds(2000));
}

}  // namespace
}  // namespace kvc::store

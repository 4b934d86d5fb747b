// etcd mode with real processes: a real etcd on loopback, two kvc-master
// processes electing a leader, a kvc-store node and a client finding the leader
// through etcd. Killing the leader makes the standby take over; the node
// re-registers its contents and the client's gets work again, byte-exact.
#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "tests/store/etcd_cluster.h"
#include "tests/store/store_cluster.h"

namespace kvc::store {
namespace {

using kvc::testing::Subprocess;
using std::chrono::milliseconds;

// Kill the leader master: the standby takes over and clients continue.
TEST(EtcdFailoverTest, StandbyTakesOverAndClientsContinue) {
  if (!testing::HaveEtcd()) GTEST_SKIP() << "/usr/bin/etcd not installed";
  testing::EtcdCluster cluster;
  ASSERT_TRUE(cluster.WaitUp());
  // A short take-over grace, so the put during the take-over below gets through
  // within the client's retry window.
  for (int i = 0; i < 2; ++i) {
    ASSERT_NE(cluster.StartMaster(i, {"--takeover-grace-ms", "1500"}), "");
  }
  const std::string first = cluster.WaitLeader("", milliseconds(10000));
  ASSERT_TRUE(cluster.IsMaster(first)) << "leader '" << first << "' is not one of the masters";
  const std::string client_url = cluster.client_url();
  const std::string dir = cluster.dir();

  const std::string node_port_file = dir + "/node.port";
  Subprocess node({kvc::testing::BinDir() + "/kvc-store", "--listen-address", "127.0.0.1:0",
                   "--port-file", node_port_file, "--node-id", "n1", "--etcd-endpoints", client_url,
                   "--store-dram-bytes", std::to_string(8 << 20)},
                  dir + "/node.log");
  ASSERT_GT(kvc::testing::WaitForPortFile(node_port_file, milliseconds(10000)), 0);

  auto directory = transfer::MakePeerSegmentDirectory("kvc-dev-token");
  transfer::TransferEngineOptions eo;
  eo.listen_address = "";
  auto engine = transfer::CreateTransferEngine(eo, directory.get());
  ASSERT_TRUE(engine.ok());
  constexpr uint64_t kSize = 16 << 10;
  std::vector<char> buf(kSize);
  ASSERT_TRUE((*engine)->RegisterMemory(buf.data(), kSize, "cpu:0", false).ok());
  StoreClientOptions co;
  co.etcd_endpoints = client_url;
  co.takeover_retry_ms = 10000;  // the leader lease (2 s) must expire before a standby wins
  auto client = StoreClient::Create(co, **engine);
  ASSERT_TRUE(client.ok()) << client.status();

  // Puts succeed once the node has registered with the leader.
  for (uint64_t i = 0; i < 5; ++i) {
    testing::FillPattern(buf.data(), kSize, i);
    Status s;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    do {
      s = (*client)->Put(BlockKey{9, i}, buf.data(), kSize);
      if (!s.ok()) std::this_thread::sleep_for(milliseconds(100));
    } while (!s.ok() && std::chrono::steady_clock::now() < deadline);
    ASSERT_TRUE(s.ok()) << s;
  }

  // Let the node learn what it holds (RECORD tasks ride on heartbeats) before the kill.
  auto stub = v1::StoreMaster::NewStub(MakeChannel(first));
  const auto record_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < record_deadline) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
    v1::GetStatsResponse stats;
    if (stub->GetStats(&ctx, v1::GetStatsRequest(), &stats).ok() &&
        stats.queued_node_tasks() == 0) {
      break;
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  cluster.KillMaster(first);
  // A put during the take-over: the dead leader does not answer, so the client
  // retries once against the new leader (waiting for it, its take-over grace and
  // the node), no retry loop needed here.
  constexpr uint64_t kDuring = 100;
  testing::FillPattern(buf.data(), kSize, kDuring);
  const auto put_start = std::chrono::steady_clock::now();
  const Status during = (*client)->Put(BlockKey{9, kDuring}, buf.data(), kSize);
  ASSERT_TRUE(during.ok()) << during;
  EXPECT_LT(std::chrono::steady_clock::now() - put_start, std::chrono::seconds(10));
  const std::string second = cluster.WaitLeader(first, milliseconds(15000));
  ASSERT_TRUE(cluster.IsMaster(second)) << "no standby took over";
  EXPECT_NE(second, first);

  // The node re-registers with the new leader; the client finds it through etcd.
  for (uint64_t i : {0, 1, 2, 3, 4, 100}) {
    StatusOr<uint64_t> got = absl::UnknownError("not tried");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    do {
      std::fill(buf.begin(), buf.end(), 0);
      got = (*client)->Get(BlockKey{9, i}, buf.data(), kSize);
      if (!got.ok()) std::this_thread::sleep_for(milliseconds(100));
    } while (!got.ok() && std::chrono::steady_clock::now() < deadline);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_TRUE(testing::MatchesPattern(buf.data(), kSize, i)) << i;
  }
}

}  // namespace
}  // namespace kvc::store

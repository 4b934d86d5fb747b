// The store across "hosts", with real kvc-master and kvc-store processes on
// loopback: a node bound to a wildcard registers its advertised (not bound)
// addresses and serves /metrics labelled with its role and id; a put of a key
// whose only replica died replaces it at once (the client reports the dead node)
// instead of answering OBJECT_EXISTS until store.node_timeout_ms.
#include <gtest/gtest.h>

#include "kvc/rpc/auth.h"
#include "kvc/rpc/client.h"
#include "kvc/v1/node.grpc.pb.h"
#include "tests/store/store_cluster.h"
#include "tests/support/http_client.h"
#include "tests/support/prometheus.h"

namespace kvc::store {
namespace {

using std::chrono::milliseconds;
using testing::FillPattern;
using testing::StoreCluster;

// kvc-store with --transfer-listen-address 0.0.0.0:0 publishes its transfer
// advertise address, registers its gRPC advertise address, and a client reaches
// it through the advertised one.
TEST(StoreMultihostTest, WildcardBindRegistersTheAdvertisedAddresses) {
  kvc::testing::TempDir dir;
  StoreCluster cluster;
  cluster.StartMaster();
  const std::string metrics_file = dir.path() + "/n1.metrics";
  cluster.StartNode("n1", 4 << 20, false,
                    {"--insecure",  // about addresses, not tokens: open on purpose
                     "--transfer-listen-address", "0.0.0.0:0", "--transfer-advertise-address",
                     "127.0.0.2", "--advertise-address", "127.0.0.5:65000", "--metrics-port", "0",
                     "--metrics-port-file", metrics_file,
                     // a wildcard bind without a cluster token: open on purpose here
                     "--insecure"});
  cluster.WaitStats([](const auto& s) { return s.nodes() == 1; });

  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  v1::PutStartRequest req;
  req.mutable_key()->set_hi(7);
  req.mutable_key()->set_lo(1);
  req.set_size(4096);
  v1::PutStartResponse started;
  ASSERT_TRUE(cluster.stub().PutStart(&ctx, req, &started).ok());
  ASSERT_EQ(started.replicas_size(), 1);
  const std::string segment = started.replicas(0).location().segment_name();
  EXPECT_TRUE(segment.starts_with("127.0.0.2:")) << segment;
  EXPECT_NE(segment, "127.0.0.2:0");
  EXPECT_EQ(started.replicas(0).rpc_address(), "127.0.0.5:65000");
  {
    grpc::ClientContext revoke_ctx;
    v1::PutRevokeRequest revoke;
    *revoke.mutable_key() = req.key();
    v1::PutRevokeResponse ignored;
    ASSERT_TRUE(cluster.stub().PutRevoke(&revoke_ctx, revoke, &ignored).ok());
  }

  constexpr uint64_t kSize = 64 << 10;
  auto c = cluster.MakeClient(kSize);
  FillPattern(c->buffer.data(), kSize, 3);
  ASSERT_TRUE(c->client->Put(BlockKey{7, 2}, c->buffer.data(), kSize).ok());
  std::vector<char> expected(c->buffer.begin(), c->buffer.end());
  std::fill(c->buffer.begin(), c->buffer.end(), 0);
  auto got = c->client->Get(BlockKey{7, 2}, c->buffer.data(), kSize);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(std::vector<char>(c->buffer.begin(), c->buffer.end()), expected);

  const int port = kvc::testing::WaitForPortFile(metrics_file, milliseconds(10000));
  ASSERT_GT(port, 0);
  const std::string text = kvc::testing::HttpRequest(port, "GET", "/metrics").body;
  EXPECT_TRUE(kvc::testing::PromSample(text, "kvc_transfer_slice_retries_total",
                                       {{"role", "store"}, {"node_id", "n1"}})
                  .has_value())
      << text;
}

// The only holder of a key is killed: the client's failed read reports it, and
// the next put of the key lands on the surviving node long before the master's
// node timeout (10 s here) would have dropped the dead node's replicas.
TEST(StoreMultihostTest, PutReplacesTheReplicaOfAKilledHolderAtOnce) {
  kvc::testing::TempDir dir;
  const std::string metrics_file = dir.path() + "/master.metrics";
  StoreCluster cluster({"--metrics-port", "0", "--metrics-port-file", metrics_file});
  cluster.set_node_timeout_ms(10000);
  cluster.StartMaster();
  cluster.StartNode("big", 8 << 20, false);  // most free space: the put lands here
  cluster.StartNode("small", 2 << 20, false);
  cluster.WaitStats([](const auto& s) { return s.nodes() == 2; });
  constexpr uint64_t kSize = 4096;
  auto c = cluster.MakeClient(kSize, 1, /*lease_cache=*/false);
  FillPattern(c->buffer.data(), kSize, 1);
  const BlockKey key{9, 9};
  ASSERT_TRUE(c->client->Put(key, c->buffer.data(), kSize).ok());

  cluster.KillNode("big");
  const auto killed = std::chrono::steady_clock::now();
  auto lost = c->client->Get(key, c->buffer.data(), kSize);
  EXPECT_EQ(ReasonOf(lost.status()), "NODE_UNREACHABLE") << lost.status();
  FillPattern(c->buffer.data(), kSize, 2);
  const Status again = c->client->Put(key, c->buffer.data(), kSize);
  ASSERT_TRUE(again.ok()) << again << " (before the fix: OBJECT_EXISTS until the node timeout)";
  EXPECT_LT(std::chrono::steady_clock::now() - killed, std::chrono::seconds(5));
  std::vector<char> expected(c->buffer.begin(), c->buffer.end());
  std::fill(c->buffer.begin(), c->buffer.end(), 0);
  auto got = c->client->Get(key, c->buffer.data(), kSize);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(std::vector<char>(c->buffer.begin(), c->buffer.end()), expected);

  const int port = kvc::testing::WaitForPortFile(metrics_file, milliseconds(10000));
  const std::string text = kvc::testing::HttpRequest(port, "GET", "/metrics").body;
  EXPECT_EQ(kvc::testing::PromSample(text, "kvc_store_replaced_replicas_total",
                                     {{"reason", "reported_unreachable"}}),
            1.0)
      << text;
  EXPECT_EQ(kvc::testing::PromSample(text, "kvc_store_unreachable_reports_total"), 1.0) << text;
}

// The same, but the death is observed by a conductor (it could not reach the
// node) and reported through the membership (NodeRegistry.ReportUnreachable, as
// MasterMembership does): the master's pool takes it as suspect too, so the next
// put replaces the replica before any client read failed.
TEST(StoreMultihostTest, MembershipReportMakesThePoolReplaceAtOnce) {
  // Silence alone makes a node suspect only after 8 s here.
  StoreCluster cluster({"--store-node-suspect-ms", "8000"});
  cluster.set_node_timeout_ms(10000);
  cluster.StartMaster();
  cluster.StartNode("big", 8 << 20, false);  // most free space: the put lands here
  cluster.StartNode("small", 2 << 20, false);
  cluster.WaitStats([](const auto& s) { return s.nodes() == 2; });
  constexpr uint64_t kSize = 4096;
  auto c = cluster.MakeClient(kSize, 1, /*lease_cache=*/false);
  FillPattern(c->buffer.data(), kSize, 1);
  const BlockKey key{9, 10};
  ASSERT_TRUE(c->client->Put(key, c->buffer.data(), kSize).ok());
  cluster.KillNode("big");
  const auto killed = std::chrono::steady_clock::now();
  auto registry = v1::NodeRegistry::NewStub(MakeChannel(cluster.master_address()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1::ReportUnreachableRequest report;
  report.set_node_id("big");
  report.set_reporter("conductor-test");
  report.set_reason("connection refused");
  v1::ReportUnreachableResponse found;
  ASSERT_TRUE(registry->ReportUnreachable(&ctx, report, &found).ok());
  EXPECT_TRUE(found.found()) << "the pool knows node big";
  FillPattern(c->buffer.data(), kSize, 2);
  const Status again = c->client->Put(key, c->buffer.data(), kSize);
  ASSERT_TRUE(again.ok()) << again
                          << " (without the join: OBJECT_EXISTS until the node is suspect)";
  // The report, not the silence (8 s), made the replacement possible.
  EXPECT_LT(std::chrono::steady_clock::now() - killed, milliseconds(4000));
  std::fill(c->buffer.begin(), c->buffer.end(), 0);
  auto got = c->client->Get(key, c->buffer.data(), kSize);
  ASSERT_TRUE(got.ok()) << got.status();
  std::vector<char> expected(kSize);
  FillPattern(expected.data(), kSize, 2);
  EXPECT_EQ(std::vector<char>(c->buffer.begin(), c->buffer.end()), expected);
}

// The master drops a node that stopped heart-beating and counts it (and its replicas).
TEST(StoreMultihostTest, ExpiredNodeIsCounted) {
  kvc::testing::TempDir dir;
  const std::string metrics_file = dir.path() + "/master.metrics";
  StoreCluster cluster({"--metrics-port", "0", "--metrics-port-file", metrics_file});
  cluster.StartMaster();
  cluster.StartNode("n1", 4 << 20, false);
  cluster.WaitStats([](const auto& s) { return s.nodes() == 1; });
  auto c = cluster.MakeClient(4096);
  for (uint64_t i = 0; i < 2; ++i) {
    ASSERT_TRUE(c->client->Put(BlockKey{3, i}, c->buffer.data(), 4096).ok());
  }
  cluster.KillNode("n1");
  const auto stats = cluster.WaitStats([](const auto& s) { return s.nodes() == 0; });
  ASSERT_EQ(stats.nodes(), 0u);
  const int port = kvc::testing::WaitForPortFile(metrics_file, milliseconds(10000));
  const std::string text = kvc::testing::HttpRequest(port, "GET", "/metrics").body;
  EXPECT_EQ(kvc::testing::PromSample(text, "kvc_store_expired_nodes_total"), 1.0) << text;
  EXPECT_EQ(kvc::testing::PromSample(text, "kvc_store_expired_replicas_total"), 2.0) << text;
}

}  // namespace
}  // namespace kvc::store

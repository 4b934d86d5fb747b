// kvc-master's Prometheus endpoint (--metrics-port) with real processes: the
// store's metrics follow real puts and gets, and bad options are refused.
#include <gtest/gtest.h>
#include <sys/wait.h>

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

// True when `text` has a sample "name{labels...} value" (every series also
// carries the constant labels role="master" and node_id).
bool Has(const std::string& text, const std::string& sample) {
  const size_t brace = sample.find('{');
  const size_t space = sample.rfind(' ');
  const std::string name = sample.substr(0, std::min(brace, space));
  std::map<std::string, std::string> labels;
  if (brace != std::string::npos) {  // one label: {k="v"}
    const size_t eq = sample.find('=', brace);
    labels[sample.substr(brace + 1, eq - brace - 1)] =
        sample.substr(eq + 2, sample.find('"', eq + 2) - eq - 2);
  }
  const std::optional<double> value = kvc::testing::PromSample(text, name, labels);
  return value && *value == std::stod(sample.substr(space + 1));
}

TEST(MasterMetricsHttpTest, ServesPrometheusTextThatFollowsTheStore) {
  kvc::testing::TempDir dir;
  const std::string port_file = dir.path() + "/metrics.port";
  StoreCluster cluster({"--metrics-port", "0", "--metrics-port-file", port_file});
  cluster.StartMaster();
  const int port = kvc::testing::WaitForPortFile(port_file, milliseconds(10000));
  ASSERT_GT(port, 0);
  cluster.StartNode("n1", 4 << 20, false);
  cluster.WaitStats([](const auto& s) { return s.nodes() == 1; });
  constexpr uint64_t kSize = 4096;
  auto c = cluster.MakeClient(kSize, 1, /*lease_cache=*/false);
  for (uint64_t i = 0; i < 2; ++i) {
    FillPattern(c->buffer.data(), kSize, i);
    ASSERT_TRUE(c->client->Put(BlockKey{5, i}, c->buffer.data(), kSize).ok());
  }
  ASSERT_TRUE(c->client->Get(BlockKey{5, 0}, c->buffer.data(), kSize).ok());
  ASSERT_TRUE(c->client->Get(BlockKey{5, 1}, c->buffer.data(), kSize).ok());
  EXPECT_EQ(ReasonOf(c->client->Get(BlockKey{5, 9}, c->buffer.data(), kSize).status()),
            "NOT_FOUND");
  const std::vector<BlockKey> prefix = {BlockKey{5, 0}, BlockKey{5, 1}};
  ASSERT_TRUE(c->client->MatchPrefix(prefix).ok());

  const kvc::testing::HttpResponse r = kvc::testing::HttpRequest(port, "GET", "/metrics");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_NE(r.headers.find("text/plain; version=0.0.4"), std::string::npos) << r.headers;
  EXPECT_TRUE(Has(r.body, "kvc_store_puts_total 2")) << r.body;
  EXPECT_TRUE(Has(r.body, "kvc_store_get_hits_total 2")) << r.body;
  EXPECT_TRUE(Has(r.body, "kvc_store_get_misses_total 1")) << r.body;
  EXPECT_TRUE(Has(r.body, "kvc_store_gets_total 3")) << r.body;
  EXPECT_TRUE(Has(r.body, "kvc_store_match_prefix_seconds_count 1")) << r.body;
  EXPECT_TRUE(Has(r.body, "kvc_store_promotions_total 0")) << r.body;
  EXPECT_TRUE(Has(r.body, "kvc_store_evictions_total 0")) << r.body;
  EXPECT_NE(r.body.find("kvc_store_gets_per_second"), std::string::npos) << r.body;
  EXPECT_EQ(kvc::testing::PromLabels(r.body, "kvc_store_puts_total")["role"], "master") << r.body;
  EXPECT_FALSE(kvc::testing::PromLabels(r.body, "kvc_store_puts_total")["node_id"].empty());
  // Gauges are refreshed by the housekeeping tick (every 50 ms here).
  std::string text;
  for (int i = 0; i < 100 && !Has(text, "kvc_store_objects 2"); ++i) {
    std::this_thread::sleep_for(milliseconds(50));
    text = kvc::testing::HttpRequest(port, "GET", "/metrics").body;
  }
  EXPECT_TRUE(Has(text, "kvc_store_objects 2")) << text;
  EXPECT_TRUE(Has(text, "kvc_store_bytes{tier=\"dram\"} 8192")) << text;
  EXPECT_TRUE(Has(text, "kvc_store_replicas{tier=\"ssd\"} 0")) << text;

  EXPECT_EQ(kvc::testing::HttpRequest(port, "GET", "/health").body, "ok\n");
  EXPECT_EQ(kvc::testing::HttpRequest(port, "GET", "/nope").status, 404);
  EXPECT_EQ(kvc::testing::HttpRequest(port, "POST", "/metrics", "x").status, 405);
}

// The membership the master holds is exported too: a prefill node that registers
// (through the real NodeRegistry RPC) is counted up, then down once it is
// reported unreachable, and the other role/state series are present at 0.
TEST(MasterMetricsHttpTest, ExportsMembershipGauges) {
  kvc::testing::TempDir dir;
  const std::string port_file = dir.path() + "/metrics.port";
  StoreCluster cluster({"--metrics-port", "0", "--metrics-port-file", port_file}, "tok");
  cluster.StartMaster();
  const int port = kvc::testing::WaitForPortFile(port_file, milliseconds(10000));
  ASSERT_GT(port, 0);
  auto registry = v1::NodeRegistry::NewStub(MakeChannel(cluster.master_address()));
  auto ctx = [] {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() + milliseconds(5000));
    AddBearerToken(c.get(), "tok");
    return c;
  };
  v1::RegisterNodeRequest req;
  req.set_node_id("prefill-x");
  req.set_role(v1::NODE_ROLE_PREFILL);
  req.set_rpc_address("127.0.0.1:9");
  v1::RegisterNodeResponse resp;
  ASSERT_TRUE(registry->Register(ctx().get(), req, &resp).ok());
  // Gauges follow the housekeeping tick: poll the endpoint, bounded.
  auto scrape_until = [&](const std::string& sample) {
    std::string text;
    for (int i = 0; i < 100 && !Has(text, sample); ++i) {
      if (i > 0) std::this_thread::sleep_for(milliseconds(50));
      text = kvc::testing::HttpRequest(port, "GET", "/metrics").body;
    }
    return text;
  };
  std::string text = scrape_until("kvc_membership_nodes_total 1");
  EXPECT_EQ(kvc::testing::PromSample(text, "kvc_membership_nodes",
                                     {{"role", "prefill"}, {"state", "up"}}),
            1.0)
      << text;
  EXPECT_EQ(
      kvc::testing::PromSample(text, "kvc_membership_nodes", {{"role", "decode"}, {"state", "up"}}),
      0.0)
      << text;
  v1::ReportUnreachableRequest report;
  report.set_node_id("prefill-x");
  report.set_reason("test");
  v1::ReportUnreachableResponse found;
  ASSERT_TRUE(registry->ReportUnreachable(ctx().get(), report, &found).ok());
  for (int i = 0; i < 100; ++i) {
    text = kvc::testing::HttpRequest(port, "GET", "/metrics").body;
    if (kvc::testing::PromSample(text, "kvc_membership_nodes",
                                 {{"role", "prefill"}, {"state", "down"}}) == 1.0) {
      break;
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_EQ(kvc::testing::PromSample(text, "kvc_membership_nodes",
                                     {{"role", "prefill"}, {"state", "down"}}),
            1.0)
      << text;
  EXPECT_EQ(kvc::testing::PromSample(text, "kvc_membership_nodes",
                                     {{"role", "prefill"}, {"state", "up"}}),
            0.0)
      << text;
}

TEST(MasterMetricsHttpTest, BadMetricsPortIsAConfigurationError) {
  kvc::testing::TempDir dir;
  kvc::testing::Subprocess bad({kvc::testing::BinDir() + "/kvc-master", "--listen-address",
                                "127.0.0.1:0", "--metrics-port", "70000"},
                               dir.path() + "/bad.log");
  const std::optional<int> status = bad.WaitFor(milliseconds(10000));
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(WEXITSTATUS(*status), 2);
  EXPECT_NE(kvc::testing::ReadFile(dir.path() + "/bad.log").find("metrics_port: 70000"),
            std::string::npos);
}

}  // namespace
}  // namespace kvc::store

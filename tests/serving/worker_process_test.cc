// kvc-prefill and kvc-decode as real processes: each serves Prometheus /metrics
// with its role and node id on every series (its transfer counters included),
// and refuses to start when it would announce an address its remote cluster
// cannot dial.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include "tests/support/http_client.h"
#include "tests/support/prometheus.h"
#include "tests/support/subprocess.h"

namespace kvc {
namespace {

using std::chrono::milliseconds;
using testing::Subprocess;
using testing::TempDir;

// Runs `argv` to its exit (at most 20 s); returns the exit code, -1 when it did not exit.
int ExitCode(std::vector<std::string> argv, const std::string& log) {
  Subprocess p(std::move(argv), log);
  auto status = p.WaitFor(milliseconds(20000));
  if (!status || !WIFEXITED(*status)) return -1;
  return WEXITSTATUS(*status);
}

// Both workers serve /metrics labelled role/node_id, with the transfer engine's counters.
TEST(WorkerProcessTest, MetricsEndpointCarriesRoleNodeIdAndTransferCounters) {
  TempDir dir;
  Subprocess master({testing::BinDir() + "/kvc-master", "--listen-address", "127.0.0.1:0",
                     "--port-file", dir.path() + "/master"},
                    dir.path() + "/master.log");
  const int master_port = testing::WaitForPortFile(dir.path() + "/master", milliseconds(10000));
  ASSERT_GT(master_port, 0);
  std::vector<std::unique_ptr<Subprocess>> workers;
  for (const std::string role : {"prefill", "decode"}) {
    workers.push_back(std::make_unique<Subprocess>(
        std::vector<std::string>{testing::BinDir() + "/kvc-" + role, "--listen-address",
                                 "127.0.0.1:0", "--node-id", role + "-m", "--master-address",
                                 "127.0.0.1:" + std::to_string(master_port), "--engine-num-blocks",
                                 "16", "--store-dram-bytes", "4194304", "--metrics-port", "0",
                                 "--metrics-port-file", dir.path() + "/" + role + ".metrics"},
        dir.path() + "/" + role + ".log"));
  }
  for (const std::string role : {"prefill", "decode"}) {
    const int port =
        testing::WaitForPortFile(dir.path() + "/" + role + ".metrics", milliseconds(20000));
    ASSERT_GT(port, 0) << testing::ReadFile(dir.path() + "/" + role + ".log");
    const testing::HttpResponse r = testing::HttpRequest(port, "GET", "/metrics");
    ASSERT_EQ(r.status, 200);
    EXPECT_TRUE(testing::PromSample(r.body, "kvc_transfer_slice_retries_total",
                                    {{"role", role}, {"node_id", role + "-m"}})
                    .has_value())
        << r.body;
    EXPECT_TRUE(testing::PromSample(r.body, "kvc_transfer_failed_entries_total",
                                    {{"role", role}, {"node_id", role + "-m"}})
                    .has_value())
        << r.body;
    EXPECT_EQ(testing::HttpRequest(port, "GET", "/health").body, "ok\n");
  }
}

// A worker whose master is on another host refuses loopback announcements
// (exit 2, the option named) before it binds or dials anything.
TEST(WorkerProcessTest, LoopbackAnnouncementWithARemoteMasterIsRefused) {
  TempDir dir;
  const std::string bin = testing::BinDir() + "/kvc-prefill";
  EXPECT_EQ(ExitCode({bin, "--master-address", "192.0.2.1:50052"}, dir.path() + "/a.log"), 2);
  EXPECT_NE(testing::ReadFile(dir.path() + "/a.log").find("advertise_address"), std::string::npos)
      << testing::ReadFile(dir.path() + "/a.log");
  EXPECT_EQ(ExitCode({bin, "--master-address", "192.0.2.1:50052", "--listen-address", "0.0.0.0:0",
                      "--advertise-address", "192.0.2.7:50061"},
                     dir.path() + "/b.log"),
            2);
  EXPECT_NE(testing::ReadFile(dir.path() + "/b.log").find("transfer.advertise_address"),
            std::string::npos)
      << testing::ReadFile(dir.path() + "/b.log");
  EXPECT_EQ(ExitCode({testing::BinDir() + "/kvc-store", "--master-address", "192.0.2.1:50052"},
                     dir.path() + "/c.log"),
            2);
  EXPECT_NE(testing::ReadFile(dir.path() + "/c.log").find("advertise_address"), std::string::npos)
      << testing::ReadFile(dir.path() + "/c.log");
}

}  // namespace
}  // namespace kvc

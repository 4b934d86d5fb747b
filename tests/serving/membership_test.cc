// Workers join a conductor directly (the legacy path of a cluster without a
// master: --master-address "" everywhere, --conductor-address on the workers):
// kvc-prefill and kvc-decode register with a real kvc-conductor, heartbeat, show
// up in the Admin API, are marked down when killed, and deregister on SIGTERM. A
// wrong cluster token keeps a node out. Shared membership through kvc-master:
// conductor_ha_test.cc.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <thread>

#include "kvc/rpc/auth.h"
#include "kvc/rpc/client.h"
#include "kvc/v1/admin.grpc.pb.h"
#include "tests/support/http_client.h"
#include "tests/support/prometheus.h"
#include "tests/support/subprocess.h"

namespace kvc {
namespace {

using std::chrono::milliseconds;
using testing::Subprocess;
using testing::TempDir;

class MembershipTest : public ::testing::Test {
 protected:
  void SetUp() override {
    conductor_ = std::make_unique<Subprocess>(
        std::vector<std::string>{testing::BinDir() + "/kvc-conductor", "--listen-address",
                                 "127.0.0.1:0", "--port-file", dir_.path() + "/grpc", "--http-port",
                                 "0", "--http-port-file", dir_.path() + "/http", "--cluster-token",
                                 "clu", "--heartbeat-timeout-ms", "1000", "--heartbeat-interval-ms",
                                 "100", "--master-address", ""},
        dir_.path() + "/conductor.log");
    const int port = testing::WaitForPortFile(dir_.path() + "/grpc", milliseconds(10000));
    http_port_ = testing::WaitForPortFile(dir_.path() + "/http", milliseconds(10000));
    ASSERT_GT(port, 0);
    conductor_address_ = "127.0.0.1:" + std::to_string(port);
    admin_ = kvc::v1::Admin::NewStub(MakeChannel(conductor_address_));
  }

  std::unique_ptr<Subprocess> StartWorker(const std::string& binary, const std::string& id,
                                          const std::string& token) {
    return std::make_unique<Subprocess>(
        std::vector<std::string>{testing::BinDir() + "/" + binary, "--listen-address",
                                 "127.0.0.1:0", "--node-id", id, "--conductor-address",
                                 conductor_address_, "--cluster-token", token, "--master-address",
                                 ""},
        dir_.path() + "/" + id + ".log");
  }

  // node id → state ("" when absent); empty when the conductor does not answer.
  std::map<std::string, std::string> Nodes() {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + milliseconds(2000));
    kvc::v1::ListNodesResponse resp;
    std::map<std::string, std::string> out;
    if (!admin_->ListNodes(&ctx, {}, &resp).ok()) return out;  // e.g. conductor restarting
    for (const auto& n : resp.nodes()) out[n.node_id()] = n.state();
    return out;
  }

  // Polls until `id` has `state` ("" = absent), for at most 10 s.
  bool WaitForState(const std::string& id, const std::string& state) {
    for (int i = 0; i < 200; ++i) {
      auto nodes = Nodes();
      const std::string now = nodes.count(id) ? nodes[id] : "";
      if (now == state) return true;
      std::this_thread::sleep_for(milliseconds(50));
    }
    return false;
  }

  TempDir dir_;
  std::unique_ptr<Subprocess> conductor_;
  std::string conductor_address_;
  int http_port_ = 0;
  std::unique_ptr<kvc::v1::Admin::Stub> admin_;
};

// Register → up; SIGKILL → down after the heartbeat timeout; SIGTERM → deregistered.
TEST_F(MembershipTest, WorkersRegisterHeartbeatAndLeave) {
  auto prefill = StartWorker("kvc-prefill", "prefill-a", "clu");
  auto decode = StartWorker("kvc-decode", "decode-a", "clu");
  ASSERT_TRUE(WaitForState("prefill-a", "up")) << testing::ReadFile(dir_.path() + "/prefill-a.log");
  ASSERT_TRUE(WaitForState("decode-a", "up"));
  // Heartbeats keep them up past the timeout.
  std::this_thread::sleep_for(milliseconds(1500));
  EXPECT_EQ(Nodes()["prefill-a"], "up");
  // With both roles up, a generation request is served end to end (no pool here).
  auto r = testing::HttpRequest(
      http_port_, "POST", "/v1/chat/completions",
      R"({"model":"kvc-tiny","messages":[{"role":"user","content":"hi"}],"max_tokens":4})");
  EXPECT_EQ(r.status, 200) << r.body;

  decode->Signal(SIGKILL);
  decode->WaitFor(milliseconds(2000));
  EXPECT_TRUE(WaitForState("decode-a", "down"));
  EXPECT_EQ(Nodes()["prefill-a"], "up") << "a dead peer must not disturb the others";

  prefill->Signal(SIGTERM);
  auto status = prefill->WaitFor(milliseconds(2000));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
  EXPECT_TRUE(WaitForState("prefill-a", "")) << "SIGTERM deregisters";
}

// A node with the wrong cluster token never joins, and keeps running.
TEST_F(MembershipTest, WrongClusterTokenIsRefused) {
  auto decode = StartWorker("kvc-decode", "decode-bad", "not-the-token");
  auto good = StartWorker("kvc-decode", "decode-good", "clu");
  ASSERT_TRUE(WaitForState("decode-good", "up"));
  // Wait until the conductor has refused the bad node's registration (its refusal
  // counter), then check it is not listed: absence after a refusal, not after a sleep.
  bool refused = false;
  for (int i = 0; i < 200 && !refused; ++i) {
    const auto m = testing::HttpRequest(http_port_, "GET", "/metrics");
    refused = testing::PromSample(m.body, "kvc_rpc_refused_calls_total").value_or(0) >= 1;
    if (!refused) std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_TRUE(refused) << testing::ReadFile(dir_.path() + "/decode-bad.log");
  EXPECT_EQ(Nodes().count("decode-bad"), 0u);
  EXPECT_FALSE(decode->WaitFor(milliseconds(10)).has_value()) << "refused node must keep running";
  decode->Signal(SIGTERM);
  EXPECT_TRUE(decode->WaitFor(milliseconds(2000)).has_value()) << "exits within 2 s while retrying";
}

// The conductor restarting loses its registry; heartbeats make workers register again.
TEST_F(MembershipTest, WorkersReRegisterAfterConductorRestart) {
  auto prefill = StartWorker("kvc-prefill", "prefill-r", "clu");
  ASSERT_TRUE(WaitForState("prefill-r", "up"));
  conductor_->Signal(SIGTERM);
  ASSERT_TRUE(conductor_->WaitFor(milliseconds(2000)).has_value());
  const std::string port = conductor_address_.substr(conductor_address_.rfind(':') + 1);
  conductor_ = std::make_unique<Subprocess>(
      std::vector<std::string>{testing::BinDir() + "/kvc-conductor", "--listen-address",
                               "127.0.0.1:" + port, "--http-port", "0", "--cluster-token", "clu",
                               "--heartbeat-timeout-ms", "1000", "--heartbeat-interval-ms", "100",
                               "--master-address", ""},
      dir_.path() + "/conductor2.log");
  ASSERT_TRUE(WaitForState("prefill-r", "up"))
      << testing::ReadFile(dir_.path() + "/conductor2.log");
}

}  // namespace
}  // namespace kvc

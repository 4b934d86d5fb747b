// kvc-conductor as a real process: node registry over gRPC with a cluster token,
// the Admin API through kvcctl with an admin token, and the HTTP front door's
// validation, auth and availability answers.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "kvc/common/json.h"
#include "kvc/common/utf8.h"
#include "kvc/rpc/auth.h"
#include "kvc/rpc/client.h"
#include "kvc/v1/node.grpc.pb.h"
#include "tests/support/http_client.h"
#include "tests/support/subprocess.h"

namespace kvc {
namespace {

using std::chrono::milliseconds;
using testing::HttpRequest;
using testing::Subprocess;
using testing::TempDir;

class ConductorAdminTest : public ::testing::Test {
 protected:
  // Starts the conductor; `master` "" = nodes register with it directly.
  void Start(const std::string& master) {
    conductor_ =
        std::make_unique<Subprocess>(std::vector<std::string>{testing::BinDir() + "/kvc-conductor",
                                                              "--listen-address",
                                                              "127.0.0.1:0",
                                                              "--port-file",
                                                              dir_.path() + "/grpc",
                                                              "--http-port",
                                                              "0",
                                                              "--http-port-file",
                                                              dir_.path() + "/http",
                                                              "--admin-token",
                                                              "adm-secret",
                                                              "--cluster-token",
                                                              "clu-secret",
                                                              "--api-keys",
                                                              "key-1,key-2",
                                                              "--heartbeat-timeout-ms",
                                                              "1500",
                                                              "--heartbeat-interval-ms",
                                                              "100",
                                                              "--master-address",
                                                              master,
                                                              "--master-timeout-ms",
                                                              "300"},
                                     dir_.path() + "/conductor.log");
    grpc_port_ = testing::WaitForPortFile(dir_.path() + "/grpc", milliseconds(10000));
    http_port_ = testing::WaitForPortFile(dir_.path() + "/http", milliseconds(10000));
    ASSERT_GT(grpc_port_, 0) << testing::ReadFile(dir_.path() + "/conductor.log");
    ASSERT_GT(http_port_, 0);
    target_ = "127.0.0.1:" + std::to_string(grpc_port_);
  }
  void TearDown() override {
    if (!conductor_) return;
    conductor_->Signal(SIGTERM);
    auto status = conductor_->WaitFor(milliseconds(2000));
    EXPECT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
  }

  grpc::Status RegisterNode(const std::string& id, kvc::v1::NodeRole role,
                            const std::string& token) {
    auto stub = kvc::v1::NodeRegistry::NewStub(MakeChannel(target_));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + milliseconds(3000));
    AddBearerToken(&ctx, token);
    kvc::v1::RegisterNodeRequest req;
    req.set_node_id(id);
    req.set_role(role);
    req.set_rpc_address("127.0.0.1:9");
    kvc::v1::RegisterNodeResponse resp;
    return stub->Register(&ctx, req, &resp);
  }

  // One heartbeat of `id` carrying `load`, with the cluster token.
  grpc::Status Heartbeat(const std::string& id, const kvc::v1::NodeLoad& load) {
    auto stub = kvc::v1::NodeRegistry::NewStub(MakeChannel(target_));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + milliseconds(3000));
    AddBearerToken(&ctx, "clu-secret");
    kvc::v1::NodeHeartbeatRequest req;
    req.set_node_id(id);
    *req.mutable_load() = load;
    kvc::v1::NodeHeartbeatResponse resp;
    return stub->Heartbeat(&ctx, req, &resp);
  }

  // Runs kvcctl with the admin token; returns exit code, stdout+stderr in *out.
  int Kvcctl(std::vector<std::string> args, std::string* out, bool with_token = true) {
    std::vector<std::string> argv = {testing::BinDir() + "/kvcctl", "--target", target_};
    if (with_token) argv.insert(argv.end(), {"--admin-token", "adm-secret"});
    argv.insert(argv.end(), args.begin(), args.end());
    const std::string log = dir_.path() + "/kvcctl.out";
    Subprocess p(argv, log);
    auto status = p.WaitFor(milliseconds(10000));
    *out = testing::ReadFile(log);
    return status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
  }

  TempDir dir_;
  std::unique_ptr<Subprocess> conductor_;
  int grpc_port_ = 0, http_port_ = 0;
  std::string target_;
};

// A decode node's quarantined KV blocks, reported in its heartbeat's load, reach
// `kvcctl nodes` (QUAR_KV) and the conductor's /metrics.
TEST_F(ConductorAdminTest, QuarantinedKvBlocksReachKvcctlAndMetrics) {
  ASSERT_NO_FATAL_FAILURE(Start(""));
  ASSERT_TRUE(RegisterNode("d-1", kvc::v1::NODE_ROLE_DECODE, "clu-secret").ok());
  kvc::v1::NodeLoad load;
  load.set_total_kv_blocks(64);
  load.set_free_kv_blocks(50);
  load.set_quarantined_kv_blocks(7);
  ASSERT_TRUE(Heartbeat("d-1", load).ok());
  std::string out;
  ASSERT_EQ(Kvcctl({"nodes"}, &out), 0) << out;
  const size_t header = out.find("QUAR_KV");
  ASSERT_NE(header, std::string::npos) << out;
  const size_t row = out.find("d-1");
  ASSERT_NE(row, std::string::npos) << out;
  const std::string line = out.substr(row, out.find('\n', row) - row);
  EXPECT_NE(line.find(" 50         7 "), std::string::npos) << "FREE_KV 50, QUAR_KV 7: " << out;
  const auto metrics = HttpRequest(http_port_, "GET", "/metrics");
  EXPECT_NE(metrics.body.find(
                "kvc_conductor_node_quarantined_kv_blocks{node=\"d-1\",role=\"decode\"} 7\n"),
            std::string::npos)
      << metrics.body;
}

// Registration needs the cluster token; nodes then show up in kvcctl, can be
// drained and undrained, and go down when they stop heartbeating.
TEST_F(ConductorAdminTest, RegistryAndAdminThroughKvcctl) {
  ASSERT_NO_FATAL_FAILURE(Start(""));
  EXPECT_EQ(RegisterNode("p-1", kvc::v1::NODE_ROLE_PREFILL, "wrong").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  ASSERT_TRUE(RegisterNode("p-1", kvc::v1::NODE_ROLE_PREFILL, "clu-secret").ok());
  std::string out;
  ASSERT_EQ(Kvcctl({"--json", "nodes"}, &out), 0) << out;
  auto nodes = nlohmann::json::parse(out)["nodes"];
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_EQ(nodes[0]["node_id"], "p-1");
  EXPECT_EQ(nodes[0]["state"], "up");

  EXPECT_EQ(Kvcctl({"nodes"}, &out, /*with_token=*/false), 1) << "admin call without token";
  EXPECT_NE(out.find("UNAUTHENTICATED"), std::string::npos) << out;

  ASSERT_EQ(Kvcctl({"drain", "p-1"}, &out), 0) << out;
  EXPECT_NE(out.find("draining"), std::string::npos);
  ASSERT_EQ(Kvcctl({"undrain", "p-1"}, &out), 0);
  EXPECT_NE(out.find("up"), std::string::npos);
  EXPECT_EQ(Kvcctl({"drain", "nobody"}, &out), 1);
  EXPECT_NE(out.find("NOT_FOUND"), std::string::npos) << out;

  // No heartbeats: down after the 1.5 s timeout (polled, bounded).
  bool down = false;
  for (int i = 0; i < 50 && !down; ++i) {
    std::this_thread::sleep_for(milliseconds(100));
    ASSERT_EQ(Kvcctl({"--json", "nodes"}, &out), 0);
    down = nlohmann::json::parse(out)["nodes"][0]["state"] == "down";
  }
  EXPECT_TRUE(down);
}

// SLOs can be read and changed; bad values are refused and change nothing.
TEST_F(ConductorAdminTest, SloGetSet) {
  ASSERT_NO_FATAL_FAILURE(Start(""));
  std::string out;
  ASSERT_EQ(Kvcctl({"--json", "slo"}, &out), 0) << out;
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(out)["ttft_seconds"], 30.0);
  ASSERT_EQ(Kvcctl({"slo", "--ttft", "5", "--tbt", "0.2"}, &out), 0) << out;
  EXPECT_EQ(Kvcctl({"slo", "--ttft", "-1", "--tbt", "0.2"}, &out), 1);
  ASSERT_EQ(Kvcctl({"--json", "slo"}, &out), 0);
  auto slo = nlohmann::json::parse(out);
  EXPECT_DOUBLE_EQ(slo["ttft_seconds"], 5.0);
  EXPECT_DOUBLE_EQ(slo["tbt_seconds"], 0.2);
  ASSERT_EQ(Kvcctl({"metrics"}, &out), 0);
  EXPECT_NE(out.find("kvc_conductor_requests_total"), std::string::npos);
}

// kvcctl lookup needs exactly one prompt form; without a reachable kvc-master the
// conductor says so, for text and chat prompts alike.
TEST_F(ConductorAdminTest, LookupWithoutMaster) {
  ASSERT_NO_FATAL_FAILURE(Start("127.0.0.1:9"));
  std::string out;
  EXPECT_EQ(Kvcctl({"lookup"}, &out), 2) << out;
  EXPECT_EQ(Kvcctl({"lookup", "--text", "a", "--chat", "b"}, &out), 2) << out;
  ASSERT_EQ(Kvcctl({"--json", "lookup", "--text", "hi"}, &out), 0) << out;
  EXPECT_EQ(nlohmann::json::parse(out)["total_blocks"], 0) << "shorter than a block: no lookup";
  const std::string text(40, 'a');  // at least one full 16-token block
  EXPECT_EQ(Kvcctl({"lookup", "--text", text}, &out), 1) << out;
  EXPECT_NE(out.find("UNAVAILABLE"), std::string::npos) << out;
  EXPECT_EQ(Kvcctl({"lookup", "--chat", text}, &out), 1) << out;
  EXPECT_NE(out.find("UNAVAILABLE"), std::string::npos) << out;
}

// Sends raw bytes on a fresh loopback connection and reads the answer to EOF
// (every read has a deadline).
std::string RawExchange(int port, const std::string& bytes) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return "";
  timeval tv{5, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return "";
  }
  (void)!write(fd, bytes.data(), bytes.size());
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof(buf))) > 0;) out.append(buf, n);
  close(fd);
  return out;
}

int StatusOf(const std::string& response) {
  return response.rfind("HTTP/1.", 0) == 0 && response.size() >= 12
             ? std::atoi(response.substr(9, 3).c_str())
             : 0;
}

// Issue 16: the exact unauthenticated request that killed kvc-conductor (0xFF 0xFE
// in the path), then the other invalid-UTF-8 placements (path, header value, JSON
// key, JSON string value) with 0xFF, an overlong (C0 80) and a lone surrogate
// (ED A0 80): each is a 4xx with a valid UTF-8 body, and the process keeps serving.
TEST_F(ConductorAdminTest, InvalidUtf8RequestsGet4xxAndProcessLives) {
  ASSERT_NO_FATAL_FAILURE(Start(""));
  const std::string issue = RawExchange(http_port_, "GET /v1/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(StatusOf(issue), 404) << issue;
  for (const std::string bad : {"\xFF", "\xC0\x80", "\xED\xA0\x80"}) {
    std::vector<std::string> requests = {
        "GET /v1/" + bad + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "GET /v1/models HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + bad +
            "\r\nConnection: close\r\n\r\n"};
    for (const std::string& body :
         {R"({"model":"kvc-tiny","messages":[{"role":"user","content":"hi"}],")" + bad + R"(":1})",
          R"({"model":"kvc-tiny","messages":[{"role":"user","content":")" + bad + R"("}]})",
          R"({"model":")" + bad + R"(","messages":[{"role":"user","content":"hi"}]})"}) {
      requests.push_back(
          "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer key-1\r\n"
          "Connection: close\r\nContent-Type: application/json\r\nContent-Length: " +
          std::to_string(body.size()) + "\r\n\r\n" + body);
    }
    for (const std::string& request : requests) {
      const std::string r = RawExchange(http_port_, request);
      const int status = StatusOf(r);
      EXPECT_TRUE(status >= 400 && status < 500) << request << "\n-> " << r;
      EXPECT_TRUE(IsValidUtf8(r.substr(std::min(r.find("\r\n\r\n"), r.size())))) << r;
    }
  }
  EXPECT_FALSE(conductor_->WaitFor(milliseconds(0)).has_value()) << "kvc-conductor exited";
  EXPECT_EQ(HttpRequest(http_port_, "GET", "/livez").status, 200);
}

// HTTP: 401 without a key, 400 for bad bodies, 404 for unknown models, 503 with
// no nodes, and 503 again when the registered nodes do not answer (the failed
// decode node is excluded, the retry finds none left). The node that could not be
// reached is down at once in /health, /metrics and kvcctl nodes alike.
TEST_F(ConductorAdminTest, HttpFrontDoorAnswers) {
  ASSERT_NO_FATAL_FAILURE(Start(""));
  const std::vector<std::string> auth = {"Authorization: Bearer key-2"};
  const std::string good = R"({"model":"kvc-tiny","messages":[{"role":"user","content":"hi"}]})";
  EXPECT_EQ(HttpRequest(http_port_, "POST", "/v1/chat/completions", good).status, 401);
  auto bad_json = HttpRequest(http_port_, "POST", "/v1/chat/completions", "{oops", auth);
  EXPECT_EQ(bad_json.status, 400);
  EXPECT_EQ(nlohmann::json::parse(bad_json.body)["error"]["type"], "invalid_request_error");
  EXPECT_EQ(HttpRequest(http_port_, "POST", "/v1/chat/completions", R"({"model":"kvc-tiny"})", auth)
                .status,
            400);
  EXPECT_EQ(HttpRequest(http_port_, "POST", "/v1/completions",
                        R"({"model":"kvc-tiny","prompt":"x","max_tokens":-1})", auth)
                .status,
            400);
  EXPECT_EQ(HttpRequest(http_port_, "POST", "/v1/chat/completions",
                        R"({"model":"gpt-9","messages":[{"role":"user","content":"hi"}]})", auth)
                .status,
            404);
  auto none = HttpRequest(http_port_, "POST", "/v1/chat/completions", good, auth);
  EXPECT_EQ(none.status, 503);
  EXPECT_NE(none.headers.find("Retry-After"), std::string::npos);

  ASSERT_TRUE(RegisterNode("p-1", kvc::v1::NODE_ROLE_PREFILL, "clu-secret").ok());
  ASSERT_TRUE(RegisterNode("d-1", kvc::v1::NODE_ROLE_DECODE, "clu-secret").ok());
  auto dead = HttpRequest(http_port_, "POST", "/v1/chat/completions", good, auth);
  EXPECT_EQ(dead.status, 503) << dead.body;
  EXPECT_NE(dead.headers.find("Retry-After"), std::string::npos);

  auto health = HttpRequest(http_port_, "GET", "/health");
  EXPECT_EQ(health.status, 503) << "no decode node up: not ready";
  EXPECT_EQ(nlohmann::json::parse(health.body)["status"], "no_decode_nodes");
  EXPECT_EQ(nlohmann::json::parse(health.body)["decode_nodes_up"], 0)
      << "the decode node refused the connection: it is down, not up";
  EXPECT_EQ(nlohmann::json::parse(health.body)["prefill_nodes_up"], 1);
  std::string out;
  ASSERT_EQ(Kvcctl({"--json", "nodes"}, &out), 0) << out;
  for (const auto& n : nlohmann::json::parse(out)["nodes"]) {
    if (n["node_id"] == "d-1") {
      EXPECT_EQ(n["state"], "down");
      EXPECT_NE(n.value("state_reason", "").find("unreachable"), std::string::npos)
          << kvc::DumpJson(n);
    }
  }
  auto models = HttpRequest(http_port_, "GET", "/v1/models", "", auth);
  EXPECT_EQ(nlohmann::json::parse(models.body)["data"][0]["id"], "kvc-tiny");
  auto metrics = HttpRequest(http_port_, "GET", "/metrics");
  EXPECT_NE(metrics.body.find("kvc_conductor_nodes{role=\"prefill\",state=\"up\"} 1"),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("kvc_conductor_nodes{role=\"decode\",state=\"down\"} 1"),
            std::string::npos)
      << metrics.body;
}

}  // namespace
}  // namespace kvc

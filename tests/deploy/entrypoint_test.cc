// deploy/container/kvc-entrypoint.sh and kvc-healthcheck.sh against the real binaries:
// the config file and *_FILE secrets reach the role, the script execs the binary (same
// pid, SIGTERM ends it with exit 0), bad input stops it before the binary starts.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "kvc/rpc/auth.h"
#include "kvc/rpc/client.h"
#include "kvc/v1/store_master.grpc.pb.h"
#include "tests/deploy/deploy_support.h"
#include "tests/support/http_client.h"

namespace kvc {
namespace {

using std::chrono::milliseconds;
using testing::CommandResult;
using testing::Env;
using testing::Source;
using testing::TempDir;

grpc::Status MasterGetStats(const std::string& address, const std::string& token) {
  auto stub = v1::StoreMaster::NewStub(MakeChannel(address));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  if (!token.empty()) AddBearerToken(&ctx, token);
  v1::GetStatsRequest req;
  v1::GetStatsResponse resp;
  return stub->GetStats(&ctx, req, &resp);
}

std::string ExeOf(pid_t pid) {
  std::error_code ec;
  return std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec).string();
}

CommandResult Healthcheck(const TempDir& dir, const std::vector<std::string>& args,
                          const Env& env = {}) {
  std::vector<std::string> argv = {Source("deploy/container/kvc-healthcheck.sh")};
  argv.insert(argv.end(), args.begin(), args.end());
  return testing::RunCommand(argv, env, dir.path());
}

// A master started through the entrypoint: its listen address, port file and metrics
// port come only from the config file, its cluster token only from KVC_CLUSTER_TOKEN_FILE
// (with a trailing newline, which is dropped). The process is the binary itself (exec:
// same pid), the healthcheck sees it serving, and SIGTERM ends it with exit code 0.
TEST(EntrypointTest, StartsMasterWithConfigFileAndSecretFileAndExitsZeroOnSigterm) {
  TempDir dir;
  const std::string config = dir.path() + "/master.yaml";
  testing::WriteFile(config, "listen_address: 127.0.0.1:0\nport_file: " + dir.path() +
                                 "/master.port\nrequire_token: true\nmetrics_address: "
                                 "127.0.0.1\nmetrics_port: 0\nmetrics_port_file: " +
                                 dir.path() + "/metrics.port\n");
  testing::WriteFile(dir.path() + "/cluster-token", "s3cret-token\n");
  auto master = testing::StartEntrypoint(
      {"master"},
      {{"KVC_CONFIG", config}, {"KVC_CLUSTER_TOKEN_FILE", dir.path() + "/cluster-token"}},
      dir.path(), dir.path() + "/master.log");
  const int port = testing::WaitForPortFile(dir.path() + "/master.port", milliseconds(15000));
  ASSERT_GT(port, 0) << testing::ReadFile(dir.path() + "/master.log");
  EXPECT_GT(testing::WaitForPortFile(dir.path() + "/metrics.port", milliseconds(5000)), 0)
      << "metrics_port from the config file";
  EXPECT_EQ(std::filesystem::path(ExeOf(master->pid())).filename(), "kvc-master")
      << "the entrypoint must exec the binary (pid " << master->pid() << " is "
      << ExeOf(master->pid()) << ")";

  const std::string address = "127.0.0.1:" + std::to_string(port);
  EXPECT_EQ(MasterGetStats(address, "").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(MasterGetStats(address, "s3cret").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(MasterGetStats(address, "s3cret-token").ok())
      << "the token is the file's content without its trailing newline";

  CommandResult healthy = Healthcheck(dir, {"master", address});
  EXPECT_EQ(healthy.exit_code, 0) << healthy.output;
  CommandResult from_config =
      Healthcheck(dir, {"master"}, {{"KVC_CONFIG", config}, {"KVC_LISTEN_ADDRESS", address}});
  EXPECT_EQ(from_config.exit_code, 0) << from_config.output;

  ASSERT_TRUE(master->Signal(SIGTERM));
  const std::optional<int> status = master->WaitFor(milliseconds(10000));
  ASSERT_TRUE(status.has_value()) << "kvc-master did not exit within 10 s of SIGTERM";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
      << testing::DescribeStatus(*status) << "\n"
      << testing::ReadFile(dir.path() + "/master.log");
  CommandResult gone = Healthcheck(dir, {"master", address});
  EXPECT_EQ(gone.exit_code, 1) << gone.output;
}

// A conductor through the entrypoint: API keys from a file (one per line) guard /v1/*,
// the admin token from a file guards kvcctl, the HTTP healthcheck answers; SIGTERM → 0.
TEST(EntrypointTest, ConductorTakesApiKeysAndAdminTokenFromFiles) {
  TempDir dir;
  const std::string config = dir.path() + "/conductor.yaml";
  testing::WriteFile(config, "listen_address: 127.0.0.1:0\nport_file: " + dir.path() +
                                 "/grpc.port\nhttp_address: 127.0.0.1\nhttp_port: 0\n"
                                 "http_port_file: " +
                                 dir.path() +
                                 "/http.port\n"
                                 "master_address: \"\"\n");
  testing::WriteFile(dir.path() + "/api-keys", "key-one\n\nkey-two\n");
  testing::WriteFile(dir.path() + "/admin-token", "admin-secret");
  testing::WriteFile(dir.path() + "/cluster-token", "cluster-secret");
  auto conductor =
      testing::StartEntrypoint({},
                               {{"KVC_ROLE", "conductor"},
                                {"KVC_CONFIG", config},
                                {"KVC_API_KEYS_FILE", dir.path() + "/api-keys"},
                                {"KVC_ADMIN_TOKEN_FILE", dir.path() + "/admin-token"},
                                {"KVC_CLUSTER_TOKEN_FILE", dir.path() + "/cluster-token"}},
                               dir.path(), dir.path() + "/conductor.log");
  const int http_port = testing::WaitForPortFile(dir.path() + "/http.port", milliseconds(20000));
  ASSERT_GT(http_port, 0) << testing::ReadFile(dir.path() + "/conductor.log");
  const int grpc_port = testing::WaitForPortFile(dir.path() + "/grpc.port", milliseconds(5000));
  ASSERT_GT(grpc_port, 0);

  EXPECT_EQ(testing::HttpRequest(http_port, "GET", "/v1/models").status, 401);
  EXPECT_EQ(
      testing::HttpRequest(http_port, "GET", "/v1/models", "", {"Authorization: Bearer key-one"})
          .status,
      200);
  EXPECT_EQ(
      testing::HttpRequest(http_port, "GET", "/v1/models", "", {"Authorization: Bearer key-two"})
          .status,
      200);

  const std::string target = "127.0.0.1:" + std::to_string(grpc_port);
  const std::string kvcctl = testing::BinDir() + "/kvcctl";
  CommandResult with_token = testing::RunCommand(
      {kvcctl, "--target", target, "--admin-token", "admin-secret", "nodes"}, {}, dir.path());
  EXPECT_EQ(with_token.exit_code, 0) << with_token.output;
  CommandResult without =
      testing::RunCommand({kvcctl, "--target", target, "nodes"}, {}, dir.path());
  EXPECT_EQ(without.exit_code, 1) << without.output;

  CommandResult healthy = Healthcheck(dir, {"conductor", "127.0.0.1:" + std::to_string(http_port)});
  EXPECT_EQ(healthy.exit_code, 0) << healthy.output;
  CommandResult ready =
      Healthcheck(dir, {"conductor-ready", "127.0.0.1:" + std::to_string(http_port)});
  EXPECT_EQ(ready.exit_code, 1) << "alive but no workers: not ready: " << ready.output;
  CommandResult wrong_port =
      Healthcheck(dir, {"conductor", "127.0.0.1:" + std::to_string(grpc_port)});
  EXPECT_EQ(wrong_port.exit_code, 1)
      << "a gRPC port does not answer HTTP /health: " << wrong_port.output;

  ASSERT_TRUE(conductor->Signal(SIGTERM));
  const std::optional<int> status = conductor->WaitFor(milliseconds(15000));
  ASSERT_TRUE(status.has_value()) << "kvc-conductor did not exit within 15 s of SIGTERM";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << testing::DescribeStatus(*status);
}

// What the binary receives, seen through a stand-in binary that prints its argv and
// environment (a fake at the exec seam): secrets from files, the default config path,
// extra flags passed through, DRAM computed from the pod memory, helper variables gone.
TEST(EntrypointTest, HandsTheBinaryItsSecretsConfigAndFlags) {
  TempDir dir;
  const std::string bin = dir.path() + "/bin";
  std::filesystem::create_directories(bin);
  testing::WriteFile(bin + "/kvc-prefill", "#!/bin/sh\necho \"ARGS $*\"\nenv | sort\n");
  std::filesystem::permissions(bin + "/kvc-prefill", std::filesystem::perms::owner_all);
  testing::WriteFile(dir.path() + "/token", "tok\n");
  CommandResult r = testing::RunCommand(
      {Source("deploy/container/kvc-entrypoint.sh"), "prefill", "--log-level", "debug"},
      {{"KVC_BIN_DIR", bin},
       {"KVC_CLUSTER_TOKEN_FILE", dir.path() + "/token"},
       {"KVC_POD_MEMORY_BYTES", "34359738368"},
       {"KVC_STORE_DRAM_PERCENT", "40"}},
      dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("ARGS --log-level debug\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\nKVC_CLUSTER_TOKEN=tok\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("\nKVC_STORE_DRAM_BYTES=13743895320\n"), std::string::npos)
      << "40% of 32 GiB (rounded down to whole bytes per percent): " << r.output;
  EXPECT_EQ(r.output.find("KVC_CLUSTER_TOKEN_FILE"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("KVC_STORE_DRAM_PERCENT"), std::string::npos) << r.output;
  if (!std::filesystem::exists("/etc/kvc/prefill.yaml")) {
    EXPECT_EQ(r.output.find("KVC_CONFIG"), std::string::npos)
        << "no /etc/kvc/prefill.yaml here, so no KVC_CONFIG: " << r.output;
  }

  // An explicit KVC_STORE_DRAM_BYTES wins over the percentage.
  CommandResult explicit_bytes =
      testing::RunCommand({Source("deploy/container/kvc-entrypoint.sh"), "prefill"},
                          {{"KVC_BIN_DIR", bin},
                           {"KVC_STORE_DRAM_BYTES", "1048576"},
                           {"KVC_POD_MEMORY_BYTES", "34359738368"},
                           {"KVC_STORE_DRAM_PERCENT", "40"}},
                          dir.path());
  ASSERT_EQ(explicit_bytes.exit_code, 0) << explicit_bytes.output;
  EXPECT_NE(explicit_bytes.output.find("\nKVC_STORE_DRAM_BYTES=1048576\n"), std::string::npos)
      << explicit_bytes.output;
}

// Every bad input exits 2 with one "kvc-entrypoint:" line naming the problem, before any
// binary runs (the stand-in binary would print "STARTED").
TEST(EntrypointTest, RefusesBadInputBeforeTheBinaryStarts) {
  TempDir dir;
  const std::string bin = dir.path() + "/bin";
  std::filesystem::create_directories(bin);
  for (const char* role : {"kvc-master", "kvc-conductor", "kvc-store"}) {
    testing::WriteFile(bin + "/" + role, "#!/bin/sh\necho STARTED\n");
    std::filesystem::permissions(bin + "/" + role, std::filesystem::perms::owner_all);
  }
  testing::WriteFile(dir.path() + "/token", "tok");
  testing::WriteFile(dir.path() + "/empty", "\n");
  testing::WriteFile(dir.path() + "/placeholder", "change-me-cluster-token\n");
  struct Case {
    std::vector<std::string> args;
    Env env;
    std::string message;
  };
  const std::string token = dir.path() + "/token";
  const std::vector<Case> cases = {
      {{}, {}, "no role"},
      {{"router"}, {}, "unknown role 'router'"},
      {{"prefill"}, {}, "kvc-prefill is missing"},
      {{"master"}, {{"KVC_CONFIG", dir.path() + "/nope.yaml"}}, "KVC_CONFIG="},
      {{"master"}, {{"KVC_CLUSTER_TOKEN_FILE", dir.path() + "/nope"}}, "KVC_CLUSTER_TOKEN_FILE="},
      {{"master"},
       {{"KVC_CLUSTER_TOKEN_FILE", token}, {"KVC_CLUSTER_TOKEN", "x"}},
       "both KVC_CLUSTER_TOKEN and KVC_CLUSTER_TOKEN_FILE"},
      {{"conductor"}, {{"KVC_ADMIN_TOKEN_FILE", dir.path() + "/empty"}}, "is empty"},
      {{"master"}, {{"KVC_CLUSTER_TOKEN_FILE", dir.path() + "/placeholder"}}, "placeholder"},
      {{"conductor"}, {{"KVC_API_KEYS", "real,change-me-api-key"}}, "placeholder"},
      {{"store"}, {{"KVC_STORE_DRAM_PERCENT", "40"}}, "needs KVC_POD_MEMORY_BYTES"},
      {{"store"},
       {{"KVC_STORE_DRAM_PERCENT", "140"}, {"KVC_POD_MEMORY_BYTES", "1000"}},
       "not an integer in 1..100"},
      {{"master"}, {{"KVC_STORE_DRAM_PERCENT", "40"}}, "not master"},
  };
  for (const Case& c : cases) {
    Env env = c.env;
    env["KVC_BIN_DIR"] = bin;
    std::vector<std::string> argv = {Source("deploy/container/kvc-entrypoint.sh")};
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    CommandResult r = testing::RunCommand(argv, env, dir.path());
    EXPECT_EQ(r.exit_code, 2) << c.message << ": " << r.output;
    EXPECT_NE(r.output.find("kvc-entrypoint: "), std::string::npos) << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("STARTED"), std::string::npos) << c.message << ": " << r.output;
  }
}

}  // namespace
}  // namespace kvc

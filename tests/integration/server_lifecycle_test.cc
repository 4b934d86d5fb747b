// Every server binary, started as its own process on an ephemeral loopback port,
// answers the gRPC health check and exits cleanly within 2 s of SIGTERM.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include "kvc/rpc/client.h"
#include "tests/support/subprocess.h"

namespace kvc {
namespace {

using std::chrono::milliseconds;
using testing::Subprocess;
using testing::TempDir;

// Arguments every server gets in tests: ephemeral ports only.
std::vector<std::string> ServerArgs(const std::string& name, const std::string& port_file) {
  std::vector<std::string> args = {testing::BinDir() + "/" + name, "--listen-address",
                                   "127.0.0.1:0", "--port-file", port_file};
  if (name == "kvc-conductor") {
    args.insert(args.end(), {"--http-port", "0"});
  }
  return args;
}

class ServerLifecycleTest : public ::testing::TestWithParam<std::string> {};

// Start → SERVING over gRPC → SIGTERM → exit code 0 within 2 s → port closed.
TEST_P(ServerLifecycleTest, HealthyThenCleanExitOnSigterm) {
  TempDir dir;
  const std::string port_file = dir.path() + "/port";
  const std::string log = dir.path() + "/log";
  Subprocess proc(ServerArgs(GetParam(), port_file), log);

  const int port = testing::WaitForPortFile(port_file, milliseconds(10000));
  ASSERT_GT(port, 0) << GetParam() << " wrote no port; log:\n" << testing::ReadFile(log);
  const std::string target = "127.0.0.1:" + std::to_string(port);
  auto health = CheckHealth(target, milliseconds(3000));
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, "SERVING");

  ASSERT_TRUE(proc.Signal(SIGTERM));
  auto status = proc.WaitFor(milliseconds(2000));
  ASSERT_TRUE(status.has_value()) << GetParam() << " did not exit within 2 s of SIGTERM";
  ASSERT_TRUE(WIFEXITED(*status)) << "killed by signal " << WTERMSIG(*status);
  EXPECT_EQ(WEXITSTATUS(*status), 0) << testing::ReadFile(log);
  EXPECT_FALSE(CheckHealth(target, milliseconds(500)).ok()) << "port still answers after exit";
}

// SIGINT (Ctrl-C) is a clean stop too.
TEST_P(ServerLifecycleTest, CleanExitOnSigint) {
  TempDir dir;
  const std::string port_file = dir.path() + "/port";
  Subprocess proc(ServerArgs(GetParam(), port_file), dir.path() + "/log");
  ASSERT_GT(testing::WaitForPortFile(port_file, milliseconds(10000)), 0);
  ASSERT_TRUE(proc.Signal(SIGINT));
  auto status = proc.WaitFor(milliseconds(2000));
  ASSERT_TRUE(status.has_value());
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0);
}

// A bad option value is refused at start-up with exit code 2 and the field named.
TEST_P(ServerLifecycleTest, BadConfigExitsWithClearError) {
  TempDir dir;
  const std::string log = dir.path() + "/log";
  Subprocess proc({testing::BinDir() + "/" + GetParam(), "--listen-address", "nonsense"}, log);
  auto status = proc.WaitFor(milliseconds(5000));
  ASSERT_TRUE(status.has_value());
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 2);
  EXPECT_NE(testing::ReadFile(log).find("listen_address"), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(AllServers, ServerLifecycleTest,
                         ::testing::Values("kvc-conductor", "kvc-prefill", "kvc-decode",
                                           "kvc-master", "kvc-store"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) c = (c == '-') ? '_' : c;
                           return name;
                         });

}  // namespace
}  // namespace kvc

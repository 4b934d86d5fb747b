// Secure by default (issue 13), with the real binaries: every server role that
// would listen on a non-loopback address without its cluster token (the
// conductor: also its admin token) exits 2 with a configuration error naming
// what to set, before it binds anything; --insecure (or KVC_INSECURE) lets it
// start and is announced at every start; loopback-only and token-holding
// processes start as before.
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "tests/support/subprocess.h"

namespace kvc {
namespace {

using std::chrono::milliseconds;
using testing::Subprocess;
using testing::TempDir;

struct Exit {
  int code = -1;  // -1: did not exit within 20 s
  std::string log;
};

Exit RunToExit(std::vector<std::string> argv, const std::string& log) {
  Subprocess p(std::move(argv), log);
  auto status = p.WaitFor(milliseconds(20000));
  Exit e;
  if (status && WIFEXITED(*status)) e.code = WEXITSTATUS(*status);
  e.log = testing::ReadFile(log);
  return e;
}

std::string Bin(const std::string& role) { return testing::BinDir() + "/kvc-" + role; }

// Starts `argv` + --port-file; expects it to serve, then stops it with SIGTERM
// (exit 0). Returns its log.
std::string ServeThenStop(std::vector<std::string> argv, const TempDir& dir,
                          const std::string& name) {
  const std::string port_file = dir.path() + "/" + name + ".port";
  const std::string log = dir.path() + "/" + name + ".log";
  argv.insert(argv.end(), {"--port-file", port_file});
  Subprocess p(std::move(argv), log);
  EXPECT_GT(testing::WaitForPortFile(port_file, milliseconds(30000)), 0)
      << name << " did not serve:\n"
      << testing::ReadFile(log);
  EXPECT_TRUE(p.Signal(SIGTERM));
  const auto status = p.WaitFor(milliseconds(40000));
  EXPECT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << name << "\n"
                                                                         << testing::ReadFile(log);
  return testing::ReadFile(log);
}

bool Has(const std::string& text, const std::string& what) {
  return text.find(what) != std::string::npos;
}

// Each role on a wildcard gRPC address without a cluster token: exit 2, the
// message names cluster_token, the flag, the address and --insecure.
TEST(SecureDefaultTest, EveryRoleRefusesAnExposedListenerWithoutClusterToken) {
  TempDir dir;
  for (const std::string role : {"master", "store", "prefill", "decode", "conductor"}) {
    const Exit r =
        RunToExit({Bin(role), "--listen-address", "0.0.0.0:0"}, dir.path() + "/" + role + ".log");
    EXPECT_EQ(r.code, 2) << role << "\n" << r.log;
    EXPECT_TRUE(Has(r.log, "kvc-" + role + ": configuration error: cluster_token")) << r.log;
    EXPECT_TRUE(Has(r.log, "0.0.0.0:0")) << r.log;
    EXPECT_TRUE(Has(r.log, "--cluster-token")) << r.log;
    EXPECT_TRUE(Has(r.log, "--insecure")) << r.log;
  }
}

// The conductor also needs its admin token; a worker's transfer target and a
// metrics endpoint count as listeners too.
TEST(SecureDefaultTest, AdminTokenAndOtherListenersCount) {
  TempDir dir;
  Exit e = RunToExit({Bin("conductor"), "--listen-address", "127.0.0.1:0", "--http-address",
                      "0.0.0.0", "--cluster-token", "c"},
                     dir.path() + "/conductor.log");
  EXPECT_EQ(e.code, 2) << e.log;
  EXPECT_TRUE(Has(e.log, "configuration error: admin_token")) << e.log;
  EXPECT_TRUE(Has(e.log, "--admin-token")) << e.log;
  EXPECT_FALSE(Has(e.log, "cluster_token")) << "the cluster token is set: " << e.log;

  e = RunToExit(
      {Bin("prefill"), "--listen-address", "127.0.0.1:0", "--transfer-listen-address", "0.0.0.0:0"},
      dir.path() + "/prefill.log");
  EXPECT_EQ(e.code, 2) << e.log;
  EXPECT_TRUE(Has(e.log, "configuration error: cluster_token")) << e.log;

  e = RunToExit({Bin("master"), "--listen-address", "127.0.0.1:0", "--metrics-port", "0",
                 "--metrics-address", "0.0.0.0"},
                dir.path() + "/master.log");
  EXPECT_EQ(e.code, 2) << e.log;
  EXPECT_TRUE(Has(e.log, "configuration error: cluster_token")) << e.log;
}

// --insecure (flag, or KVC_INSECURE=true) starts the exposed role and warns;
// with its tokens or on loopback it starts without the warning.
TEST(SecureDefaultTest, InsecureStartsWithAWarningTokensAndLoopbackWithout) {
  TempDir dir;
  constexpr const char* kWarning = "runs with --insecure";
  std::string log = ServeThenStop({Bin("master"), "--listen-address", "0.0.0.0:0", "--insecure"},
                                  dir, "master-insecure");
  EXPECT_TRUE(Has(log, kWarning)) << log;
  EXPECT_TRUE(Has(log, "cluster_token")) << log;

  ASSERT_EQ(::setenv("KVC_INSECURE", "true", 1), 0);
  log = ServeThenStop({Bin("conductor"), "--listen-address", "0.0.0.0:0", "--http-port", "0",
                       "--master-address", ""},
                      dir, "conductor-insecure");
  ::unsetenv("KVC_INSECURE");
  EXPECT_TRUE(Has(log, kWarning)) << log;

  log = ServeThenStop({Bin("conductor"), "--listen-address", "0.0.0.0:0", "--http-port", "0",
                       "--master-address", "", "--cluster-token", "c", "--admin-token", "a"},
                      dir, "conductor-tokens");
  EXPECT_FALSE(Has(log, kWarning)) << log;

  log = ServeThenStop({Bin("prefill"), "--listen-address", "0.0.0.0:0", "--cluster-token", "c",
                       "--master-address", "", "--engine-num-blocks", "16"},
                      dir, "prefill-token");
  EXPECT_FALSE(Has(log, kWarning)) << log;

  log =
      ServeThenStop({Bin("decode"), "--listen-address", "127.0.0.1:0", "--engine-num-blocks", "16"},
                    dir, "decode-loopback");
  EXPECT_FALSE(Has(log, kWarning)) << log;
}

}  // namespace
}  // namespace kvc

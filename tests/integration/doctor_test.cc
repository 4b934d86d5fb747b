// kvcctl doctor against real processes on loopback: a healthy kvc-master +
// kvc-conductor pass every check; wrong tokens, dead addresses, loopback
// advertise addresses with a remote cluster and a dead etcd each fail with a line
// of their own and exit 1, within the deadline.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>

#include "tests/support/subprocess.h"

namespace kvc {
namespace {

using std::chrono::milliseconds;
using testing::Subprocess;
using testing::TempDir;

class DoctorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    master_ = std::make_unique<Subprocess>(
        std::vector<std::string>{testing::BinDir() + "/kvc-master", "--listen-address",
                                 "127.0.0.1:0", "--port-file", dir_.path() + "/master",
                                 "--cluster-token", "clu"},
        dir_.path() + "/master.log");
    conductor_ = std::make_unique<Subprocess>(
        std::vector<std::string>{testing::BinDir() + "/kvc-conductor", "--listen-address",
                                 "127.0.0.1:0", "--port-file", dir_.path() + "/conductor",
                                 "--http-port", "0", "--cluster-token", "clu", "--admin-token",
                                 "adm"},
        dir_.path() + "/conductor.log");
    const int master = testing::WaitForPortFile(dir_.path() + "/master", milliseconds(10000));
    const int conductor = testing::WaitForPortFile(dir_.path() + "/conductor", milliseconds(10000));
    ASSERT_GT(master, 0);
    ASSERT_GT(conductor, 0);
    master_address_ = "127.0.0.1:" + std::to_string(master);
    conductor_address_ = "127.0.0.1:" + std::to_string(conductor);
  }

  // Runs kvcctl doctor with `args`; returns the exit code, output in *out.
  int Doctor(std::vector<std::string> args, std::string* out) {
    std::vector<std::string> argv = {testing::BinDir() + "/kvcctl", "--target", conductor_address_};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("doctor");
    const std::string log = dir_.path() + "/doctor.out";
    Subprocess p(argv, log);
    auto status = p.WaitFor(milliseconds(20000));
    *out = testing::ReadFile(log);
    if (!status || !WIFEXITED(*status)) return -1;
    return WEXITSTATUS(*status);
  }

  // True when `out` has the line of check `check` (its name column, exactly) with
  // `verdict` ("ok" / "FAIL"). Lines are "%-4s %-24s detail".
  static bool Line(const std::string& out, const std::string& verdict, const std::string& check) {
    std::string want = verdict;
    want.resize(5, ' ');
    want += check;
    if (check.size() < 24) want.resize(5 + 24, ' ');
    for (size_t at = 0; at < out.size();) {
      size_t end = out.find('\n', at);
      if (end == std::string::npos) end = out.size();
      if (out.compare(at, want.size(), want) == 0) return true;
      at = end + 1;
    }
    return false;
  }

  TempDir dir_;
  std::unique_ptr<Subprocess> master_;
  std::unique_ptr<Subprocess> conductor_;
  std::string master_address_;
  std::string conductor_address_;
};

// Right tokens, reachable peers, sane addresses: every check ok, exit 0.
TEST_F(DoctorTest, HealthyLoopbackClusterPasses) {
  std::string out;
  EXPECT_EQ(
      Doctor({"--admin-token", "adm", "--master-address", master_address_, "--cluster-token", "clu",
              "--advertise-address", "127.0.0.1:50061", "--transfer-listen-address", "0.0.0.0:0"},
             &out),
      0)
      << out;
  for (const char* check :
       {"master", "master token", "clock", "conductor", "conductor cluster token",
        "conductor admin token", "advertise address", "transfer address", "rdma"}) {
    EXPECT_TRUE(Line(out, "ok", check)) << check << "\n" << out;
  }
  EXPECT_EQ(out.find("FAIL"), std::string::npos) << out;
}

// Wrong cluster and admin tokens: one FAIL line each, exit 1.
TEST_F(DoctorTest, WrongTokensFail) {
  std::string out;
  EXPECT_EQ(Doctor({"--admin-token", "nope", "--master-address", master_address_, "--cluster-token",
                    "wrong"},
                   &out),
            1)
      << out;
  EXPECT_TRUE(Line(out, "FAIL", "master token")) << out;
  EXPECT_TRUE(Line(out, "FAIL", "conductor cluster token")) << out;
  EXPECT_TRUE(Line(out, "FAIL", "conductor admin token")) << out;
}

// Nothing listening: the master and etcd checks fail within the deadline.
TEST_F(DoctorTest, DeadAddressesFailWithinTheDeadline) {
  std::string out;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(Doctor({"--timeout-ms", "1000", "--master-address", "127.0.0.1:1", "--etcd-endpoints",
                    "http://127.0.0.1:1", "--cluster-token", "clu"},
                   &out),
            1)
      << out;
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(8));
  EXPECT_TRUE(Line(out, "FAIL", "master")) << out;
  EXPECT_TRUE(Line(out, "FAIL", "etcd http://127.0.0.1:1")) << out;
  EXPECT_TRUE(Line(out, "ok", "conductor")) << out;
}

// Announcing loopback while the master is on another host is a FAIL naming the
// option; so is a wildcard advertise address.
TEST_F(DoctorTest, LoopbackAdvertiseWithARemoteMasterFails) {
  std::string out;
  EXPECT_EQ(
      Doctor({"--timeout-ms", "300", "--master-address", "192.0.2.1:50052", "--advertise-address",
              "127.0.0.1:50061", "--transfer-listen-address", "127.0.0.1:0"},
             &out),
      1)
      << out;
  EXPECT_TRUE(Line(out, "FAIL", "advertise address")) << out;
  EXPECT_TRUE(Line(out, "FAIL", "transfer address")) << out;
  EXPECT_NE(out.find("loopback"), std::string::npos) << out;
  EXPECT_EQ(Doctor({"--advertise-address", "0.0.0.0:50061"}, &out), 1) << out;
  EXPECT_TRUE(Line(out, "FAIL", "advertise address")) << out;
}

}  // namespace
}  // namespace kvc

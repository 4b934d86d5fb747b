// Every binary answers --help with exit 0 and honest text; kvcctl health works
// against a live server and fails cleanly against a dead address.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include "tests/support/subprocess.h"

namespace kvc {
namespace {

using std::chrono::milliseconds;
using testing::Subprocess;
using testing::TempDir;

int RunToExit(std::vector<std::string> argv, const std::string& log) {
  Subprocess p(std::move(argv), log);
  auto status = p.WaitFor(milliseconds(10000));
  if (!status || !WIFEXITED(*status)) return -1;
  return WEXITSTATUS(*status);
}

class HelpTest : public ::testing::TestWithParam<std::string> {};

// --help exits 0 and mentions --config.
TEST_P(HelpTest, HelpExitsZeroAndListsConfig) {
  TempDir dir;
  const std::string log = dir.path() + "/out";
  EXPECT_EQ(RunToExit({testing::BinDir() + "/" + GetParam(), "--help"}, log), 0);
  const std::string out = testing::ReadFile(log);
  EXPECT_NE(out.find("--config"), std::string::npos) << out;
  EXPECT_NE(out.find(GetParam()), std::string::npos) << out;
}

INSTANTIATE_TEST_SUITE_P(AllBinaries, HelpTest,
                         ::testing::Values("kvc-conductor", "kvc-prefill", "kvc-decode",
                                           "kvc-master", "kvc-store", "kvcctl", "kvc-bench",
                                           "kvc-sim"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) c = (c == '-') ? '_' : c;
                           return name;
                         });

// kvcctl health: exit 0 and SERVING against a live master, non-zero against nothing.
TEST(KvcctlTest, HealthAgainstLiveAndDeadServer) {
  TempDir dir;
  const std::string port_file = dir.path() + "/port";
  Subprocess master({testing::BinDir() + "/kvc-master", "--listen-address", "127.0.0.1:0",
                     "--port-file", port_file},
                    dir.path() + "/master.log");
  const int port = testing::WaitForPortFile(port_file, milliseconds(10000));
  ASSERT_GT(port, 0);
  const std::string out = dir.path() + "/ctl.out";
  EXPECT_EQ(RunToExit({testing::BinDir() + "/kvcctl", "--target",
                       "127.0.0.1:" + std::to_string(port), "--json", "health"},
                      out),
            0);
  EXPECT_NE(testing::ReadFile(out).find("\"serving\":true"), std::string::npos);
  EXPECT_EQ(RunToExit({testing::BinDir() + "/kvcctl", "--target", "127.0.0.1:1", "--timeout-ms",
                       "300", "health"},
                      out),
            1);
  master.Signal(SIGTERM);
  EXPECT_TRUE(master.WaitFor(milliseconds(2000)).has_value());
}

}  // namespace
}  // namespace kvc

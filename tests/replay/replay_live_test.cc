// Issue #7's live check: `kvc-bench replay` of the first 60 s of the synthetic
// Mooncake trace against a real kvc cluster started by `kvc-local up` (simulated
// backend, separate processes on 127.0.0.1). The replay must complete without
// errors and the pool must serve part of the prompts (cached_token_ratio > 0): the
// trace's shared hash_ids become shared token blocks, so this fails when prefix
// reuse through the conductor, the master and the workers is broken.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "tests/support/subprocess.h"

namespace kvc {
namespace {

using std::chrono::seconds;
using testing::BinDir;
using testing::ReadFile;
using testing::Subprocess;
using testing::TempDir;

std::string LastLine(const std::string& text) {
  std::istringstream in(text);
  std::string line, last;
  while (std::getline(in, line)) {
    if (!line.empty()) last = line;
  }
  return last;
}

// Runs a kvc tool to completion; returns its exit code (-1 on timeout), output in *out.
int RunTool(std::vector<std::string> argv, const std::string& log, seconds timeout,
            std::string* out) {
  Subprocess p(std::move(argv), log);
  auto status = p.WaitFor(timeout);
  *out = ReadFile(log);
  return status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
}

class ReplayLiveTest : public ::testing::Test {
 protected:
  void TearDown() override {
    std::string out;
    RunTool({BinDir() + "/kvc-local", "down", "--run-dir", run_dir()}, dir_.path() + "/down.log",
            seconds(30), &out);
  }
  std::string run_dir() const { return dir_.path() + "/cluster"; }
  TempDir dir_;
};

TEST_F(ReplayLiveTest, SyntheticTraceFirstMinuteOnSimCluster) {
  std::string up;
  ASSERT_EQ(RunTool({BinDir() + "/kvc-local", "up", "--prefill", "2", "--decode", "2", "--engine",
                     "sim", "--sim-time-scale", "0.02", "--http-port", "0", "--run-dir", run_dir(),
                     "--timeout-s", "60"},
                    dir_.path() + "/up.log", seconds(90), &up),
            0)
      << up;
  const std::string url = LastLine(up);
  ASSERT_EQ(url.rfind("http://127.0.0.1:", 0), 0u) << up;

  // Speedup 10, --max-seconds 6 (wall seconds): the 208 requests of the trace's first 60 s; lengths
  // scaled by 1/32 (a 512-token block of the trace becomes a 16-token block, the built-in model's
  // KV block size).
  std::string replay;
  const int code =
      RunTool({BinDir() + "/kvc-bench", "replay", "--trace",
               std::string(KVC_TEST_DATA_DIR) + "/synthetic_trace.jsonl", "--url", url, "--model",
               "kvc-tiny", "--speedup", "10", "--max-seconds", "6", "--length-scale", "0.03125",
               "--request-timeout", "60", "--out", dir_.path() + "/replay"},
              dir_.path() + "/replay.log", seconds(150), &replay);
  ASSERT_EQ(code, 0) << replay;
  const auto summary = nlohmann::json::parse(LastLine(replay), nullptr, false);
  ASSERT_TRUE(summary.is_object()) << replay;
  EXPECT_EQ(summary.value("requests", 0), 208) << summary.dump();
  EXPECT_EQ(summary.value("errors", -1), 0) << summary.dump();
  EXPECT_EQ(summary.value("completed", 0) + summary.value("rejected", 0), 208) << summary.dump();
  EXPECT_GT(summary.value("completed", 0), 150) << summary.dump();
  EXPECT_GT(summary.value("cached_token_ratio", 0.0), 0.0) << summary.dump();
}

}  // namespace
}  // namespace kvc

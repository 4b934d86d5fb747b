// kvc-sim as a process: run / cache-curve / sweep output formats, files under --out,
// exit codes and error messages on bad input, and the synthetic-trace facts when the
// shared trace is present.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/support/subprocess.h"

namespace kvc {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using testing::TempDir;

struct Outcome {
  int exit_code = -1;
  std::string output;
  std::vector<json> json_lines;  // every stdout/stderr line that parses as a JSON object
};

Outcome RunSim(std::vector<std::string> args, const std::string& dir, int timeout_ms = 60000) {
  args.insert(args.begin(), testing::BinDir() + "/kvc-sim");
  const std::string log = dir + "/sim.log";
  testing::Subprocess p(args, log);
  Outcome o;
  auto status = p.WaitFor(milliseconds(timeout_ms));
  if (status && WIFEXITED(*status)) o.exit_code = WEXITSTATUS(*status);
  o.output = testing::ReadFile(log);
  std::istringstream lines(o.output);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] != '{') continue;
    json j = json::parse(line, nullptr, false);
    if (j.is_object()) o.json_lines.push_back(j);
  }
  return o;
}

std::string WriteFile(const std::string& path, const std::string& text) {
  std::ofstream(path) << text;
  return path;
}

// 40 requests, half sharing a 4-block prefix.
std::string SmallTrace(const std::string& dir) {
  std::string text;
  for (int i = 0; i < 40; ++i) {
    const std::string ids = i % 2 ? "[1, 2, 3, 4, " + std::to_string(100 + i) + "]"
                                  : "[" + std::to_string(200 + i) + "]";
    const int input = i % 2 ? 2500 : 500;
    text += "{\"timestamp\": " + std::to_string(i * 100) +
            ", \"input_length\": " + std::to_string(input) +
            ", \"output_length\": " + std::to_string(5 + i) + ", \"hash_ids\": " + ids + "}\n";
  }
  return WriteFile(dir + "/small.jsonl", text);
}

int CountLines(const std::string& path) {
  std::ifstream in(path);
  int n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

// `run` ends stdout with one JSON object holding every documented field and writes
// summary.json, requests.csv (one row per request) and the CDF plots to --out.
TEST(SimCliTest, RunPrintsSummaryAndWritesOutputs) {
  TempDir dir;
  const std::string out = dir.path() + "/out";
  Outcome o = RunSim({"run", "--trace", SmallTrace(dir.path()), "--prefill", "2", "--decode", "2",
                      "--policy", "global-cache", "--out", out},
                     dir.path());
  ASSERT_EQ(o.exit_code, 0) << o.output;
  ASSERT_FALSE(o.json_lines.empty()) << o.output;
  const json& j = o.json_lines.back();
  for (const char* key : {"requests", "completed", "rejected", "avg_ttft_s", "p50_ttft_s",
                          "p90_ttft_s", "p99_ttft_s", "avg_tbt_s", "p99_tbt_s", "cache_hit_rate",
                          "prefill_gpu_seconds", "effective_request_ratio", "wall_seconds"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["requests"], 40);
  EXPECT_EQ(j["completed"], 40);
  EXPECT_GT(j["cache_hit_rate"].get<double>(), 0.0);
  EXPECT_TRUE(std::filesystem::exists(out + "/summary.json"));
  EXPECT_EQ(CountLines(out + "/requests.csv"), 41);
  // gnuplot-nox is a dependency (scripts/install-deps.sh): the plots must exist.
  ASSERT_TRUE(std::filesystem::exists("/usr/bin/gnuplot")) << "run scripts/install-deps.sh";
  ASSERT_TRUE(std::filesystem::exists(out + "/cdf_ttft.png"));
  EXPECT_GT(std::filesystem::file_size(out + "/cdf_ttft.png"), 0u);
}

// A bad trace line fails with exit 2 and names the line; a bad flag value fails too.
TEST(SimCliTest, BadInputFailsClearly) {
  TempDir dir;
  const std::string bad =
      WriteFile(dir.path() + "/bad.jsonl",
                "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 1}\n"
                "{\"timestamp\": 1, \"input_length\": 10, \"output_length\": 1}\n"
                "{\"timestamp\": 2, \"input_length\": \"ten\", \"output_length\": 1}\n");
  Outcome o = RunSim({"run", "--trace", bad}, dir.path());
  EXPECT_EQ(o.exit_code, 2);
  EXPECT_NE(o.output.find("bad.jsonl:3:"), std::string::npos) << o.output;
  o = RunSim({"run", "--trace", SmallTrace(dir.path()), "--policy", "fastest"}, dir.path());
  EXPECT_EQ(o.exit_code, 2);
  EXPECT_NE(o.output.find("fastest"), std::string::npos) << o.output;
  o = RunSim({"cache-curve", "--trace", bad, "--capacities", "1e4,abc"}, dir.path());
  EXPECT_EQ(o.exit_code, 2);
  EXPECT_NE(o.output.find("abc"), std::string::npos) << o.output;
}

// cache-curve on a hand-computed trace ([1,2], [1,3], [1,2,4]; 3584 input tokens).
TEST(SimCliTest, CacheCurveOnTinyTrace) {
  TempDir dir;
  const std::string t = WriteFile(
      dir.path() + "/tiny.jsonl",
      "{\"timestamp\": 0, \"input_length\": 1024, \"output_length\": 1, \"hash_ids\": [1, 2]}\n"
      "{\"timestamp\": 1, \"input_length\": 1024, \"output_length\": 1, \"hash_ids\": [1, 3]}\n"
      "{\"timestamp\": 2, \"input_length\": 1536, \"output_length\": 1, \"hash_ids\": [1, 2, "
      "4]}\n");
  Outcome o = RunSim({"cache-curve", "--trace", t, "--capacities", "0,1024"}, dir.path());
  ASSERT_EQ(o.exit_code, 0) << o.output;
  ASSERT_EQ(o.json_lines.size(), 3u) << o.output;
  EXPECT_EQ(o.json_lines[0]["capacity_tokens"], 0);
  EXPECT_EQ(o.json_lines[0]["hit_rate"], 0.0);
  EXPECT_DOUBLE_EQ(o.json_lines[1]["hit_rate"].get<double>(), 1024.0 / 3584.0);
  EXPECT_EQ(o.json_lines[2]["capacity_tokens"], "inf");
  EXPECT_DOUBLE_EQ(o.json_lines[2]["hit_rate"].get<double>(), 1536.0 / 3584.0);
}

// sweep prints one JSON line per (system, rate, TBT objective) and draws the figures.
TEST(SimCliTest, SweepCoversEveryPoint) {
  TempDir dir;
  const std::string out = dir.path() + "/sweep";
  Outcome o = RunSim({"sweep", "--trace", SmallTrace(dir.path()), "--prefill", "1", "--decode", "1",
                      "--systems", "global-cache,colocated-chunked", "--rate-scales", "1,4",
                      "--tbt-slos", "0.05,0.3", "--out", out},
                     dir.path());
  ASSERT_EQ(o.exit_code, 0) << o.output;
  ASSERT_EQ(o.json_lines.size(), 8u) << o.output;
  for (const json& j : o.json_lines) {
    const double ratio = j["effective_request_ratio"].get<double>();
    EXPECT_GE(ratio, 0.0);
    EXPECT_LE(ratio, 1.0);
  }
  EXPECT_EQ(CountLines(out + "/sweep.jsonl"), 8);
  ASSERT_TRUE(std::filesystem::exists("/usr/bin/gnuplot")) << "run scripts/install-deps.sh";
  EXPECT_TRUE(std::filesystem::exists(out + "/effective_vs_tbt_rate4.png"));
  EXPECT_TRUE(std::filesystem::exists(out + "/effective_vs_rate_tbt0.3.png"));
}

// The published facts on the synthetic trace (a copy of ../shared/traces lives in tests/data):
// unbounded hit rate ~0.65, 3 M tokens about half of it, 50 M nearly all; the whole
// trace runs on 16P+16D with every request completing.
TEST(SimCliTest, SyntheticTraceFacts) {
  const std::string path = std::string(KVC_SOURCE_DIR) + "/tests/data/synthetic_trace.jsonl";
  ASSERT_TRUE(std::filesystem::exists(path)) << "missing " << path;
  TempDir dir;
  Outcome o = RunSim({"cache-curve", "--trace", path, "--capacities", "3e6,5e7"}, dir.path());
  ASSERT_EQ(o.exit_code, 0) << o.output;
  ASSERT_EQ(o.json_lines.size(), 3u);
  const double at3m = o.json_lines[0]["hit_rate"], at50m = o.json_lines[1]["hit_rate"];
  const double unbounded = o.json_lines[2]["hit_rate"];
  EXPECT_NEAR(unbounded, 0.65, 0.03);
  EXPECT_NEAR(at3m / unbounded, 0.5, 0.15);
  EXPECT_GT(at50m / unbounded, 0.95);
  o = RunSim({"run", "--trace", path, "--prefill", "16", "--decode", "16"}, dir.path());
  ASSERT_EQ(o.exit_code, 0) << o.output;
  EXPECT_EQ(o.json_lines.back()["completed"], 3993);
}

}  // namespace
}  // namespace kvc

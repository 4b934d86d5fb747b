// The benchmark commands the issues' checks use, run for real (short): each
// exits 0 and ends with one JSON object carrying the documented fields with
// plausible values. Performance is not asserted here (docs/benchmarks.md).
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tests/support/subprocess.h"

namespace kvc {
namespace {

using std::chrono::seconds;
using testing::BinDir;
using testing::ReadFile;
using testing::Subprocess;
using testing::TempDir;

// Runs kvc-bench with `args`; returns the exit code (-1 on timeout) and the
// parsed last line of its output (null when it is not JSON).
int RunBench(const std::vector<std::string>& args, nlohmann::json* last, std::string* out) {
  TempDir dir;
  std::vector<std::string> argv = {BinDir() + "/kvc-bench"};
  argv.insert(argv.end(), args.begin(), args.end());
  Subprocess p(argv, dir.path() + "/out.log");
  auto status = p.WaitFor(seconds(120));
  *out = ReadFile(dir.path() + "/out.log");
  std::string line = out->substr(0, out->find_last_not_of('\n') + 1);
  line = line.substr(line.find_last_of('\n') + 1);
  *last = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  return status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1;
}

TEST(BenchCliTest, StoreReportsGetsAgainstTheTransferEngineAndMemcpy) {
  nlohmann::json j;
  std::string out;
  ASSERT_EQ(RunBench({"store", "--local", "--value-size", "65536", "--clients", "2", "--duration",
                      "2", "--keys-per-client", "64", "--transfer-reference", "--memcpy-reference"},
                     &j, &out),
            0)
      << out;
  ASSERT_TRUE(j.is_object()) << out;
  for (const char* key :
       {"value_size", "clients", "put_ops_per_second", "get_ops_per_second", "put_bytes_per_second",
        "get_bytes_per_second", "put_p99_us", "get_p99_us", "errors", "verified",
        "transfer_reference_bytes_per_second", "get_vs_transfer",
        "memcpy_reference_bytes_per_second", "get_vs_memcpy"}) {
    EXPECT_TRUE(j.contains(key)) << key << " missing: " << j.dump();
  }
  EXPECT_EQ(j["errors"], 0);
  EXPECT_EQ(j["verified"], true);
  EXPECT_EQ(j["values_verified"], 128);
  EXPECT_GT(j["get_bytes_per_second"].get<double>(), 0);
  EXPECT_GT(j["transfer_reference_bytes_per_second"].get<double>(), 0);
  EXPECT_EQ(j["transfer_reference_backend"], "shm");
}

TEST(BenchCliTest, TransferCyclesThroughItsWorkingSetAndVerifies) {
  nlohmann::json j;
  std::string out;
  ASSERT_EQ(RunBench({"transfer", "--loopback", "--backend", "shm", "--op", "write", "--block-size",
                      "65536", "--batch", "4", "--threads", "2", "--duration", "1", "--working-set",
                      "4194304", "--verify"},
                     &j, &out),
            0)
      << out;
  ASSERT_TRUE(j.is_object()) << out;
  for (const char* key :
       {"backend", "op", "block_size", "batch", "threads", "seconds", "bytes", "bytes_per_second",
        "ops_per_second", "p50_us", "p99_us", "errors", "verified"}) {
    EXPECT_TRUE(j.contains(key)) << key << " missing: " << j.dump();
  }
  EXPECT_EQ(j["backend"], "shm");
  EXPECT_EQ(j["errors"], 0);
  EXPECT_EQ(j["verified"], true);
  EXPECT_EQ(j["working_set"], 4194304);
  EXPECT_GT(j["bytes"].get<uint64_t>(), 0u);
}

TEST(BenchCliTest, BadArgumentsExitWithAClearError) {
  nlohmann::json j;
  std::string out;
  EXPECT_EQ(RunBench({"transfer", "--loopback", "--block-size", "0"}, &j, &out), 2) << out;
  EXPECT_NE(out.find("must be > 0"), std::string::npos) << out;
  EXPECT_NE(RunBench({"store", "--local", "--value-size", "0"}, &j, &out), 0) << out;
}

}  // namespace
}  // namespace kvc

// kvc-model as a process: init writes a loadable model, generate prints text and the
// documented JSON, chunked prefill gives the same tokens, bench prints the two
// throughput fields, and bad input exits non-zero with a message.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include "tests/support/subprocess.h"

namespace kvc {
namespace {

using std::chrono::milliseconds;
using testing::Subprocess;
using testing::TempDir;

struct Run {
  int code = -1;
  std::string out;
};

Run RunModel(const TempDir& dir, std::vector<std::string> args) {
  args.insert(args.begin(), testing::BinDir() + "/kvc-model");
  const std::string log = dir.path() + "/out.txt";
  Subprocess p(args, log);
  auto status = p.WaitFor(milliseconds(60000));
  Run r;
  if (status && WIFEXITED(*status)) r.code = WEXITSTATUS(*status);
  r.out = testing::ReadFile(log);
  return r;
}

nlohmann::json LastJsonLine(const std::string& out) {
  const size_t end = out.find_last_not_of('\n');
  const size_t start = out.rfind('\n', end);
  return nlohmann::json::parse(out.substr(start == std::string::npos ? 0 : start + 1), nullptr,
                               false);
}

class KvcModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    model_ = dir_.path() + "/tiny";
    ASSERT_EQ(RunModel(dir_, {"init", "--out", model_, "--seed", "3"}).code, 0);
  }
  TempDir dir_;
  std::string model_;
};

// generate --json carries text, token_ids, prompt_tokens, seconds; chunked prefill
// and the plain-text mode agree with it.
TEST_F(KvcModelTest, GenerateJsonAndChunkedPrefillAgree) {
  auto r = RunModel(dir_, {"generate", "--model", model_, "--prompt", "The quick brown fox jumps",
                           "--max-tokens", "8", "--json", "--ignore-eos"});
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = LastJsonLine(r.out);
  ASSERT_TRUE(j.is_object()) << r.out;
  EXPECT_EQ(j["token_ids"].size(), 8u);
  EXPECT_EQ(j["prompt_tokens"], 26);  // BOS + 25 bytes
  EXPECT_TRUE(j["text"].is_string());
  EXPECT_GT(j["seconds"].get<double>(), 0.0);
  auto chunked =
      RunModel(dir_, {"generate", "--model", model_, "--prompt", "The quick brown fox jumps",
                      "--max-tokens", "8", "--json", "--ignore-eos", "--prefill-chunk", "3"});
  ASSERT_EQ(chunked.code, 0) << chunked.out;
  EXPECT_EQ(LastJsonLine(chunked.out)["token_ids"], j["token_ids"]);
}

// --chat wraps the prompt in the Llama-3 template: more prompt tokens than plain.
TEST_F(KvcModelTest, ChatTemplateAddsTokens) {
  auto r = RunModel(dir_, {"generate", "--model", model_, "--prompt", "hi", "--max-tokens", "2",
                           "--json", "--chat"});
  ASSERT_EQ(r.code, 0) << r.out;
  // <|begin_of_text|> <|start_header_id|> user <|end_header_id|> \n\n hi <|eot_id|>
  // <|start_header_id|> assistant <|end_header_id|> \n\n
  EXPECT_EQ(LastJsonLine(r.out)["prompt_tokens"], 1 + 1 + 4 + 1 + 2 + 2 + 1 + 1 + 9 + 1 + 2);
}

// The simulated backend answers deterministically (same tokens chunked or not), and
// the cuda backend without a GPU fails with a message naming it.
TEST_F(KvcModelTest, SimBackendDeterministicAndCudaExplainsItself) {
  std::vector<std::string> args = {
      "generate", "--model", model_,      "--prompt", "replay me",        "--max-tokens",
      "6",        "--json",  "--backend", "sim",      "--sim-time-scale", "0"};
  auto a = RunModel(dir_, args);
  ASSERT_EQ(a.code, 0) << a.out;
  args.insert(args.end(), {"--prefill-chunk", "2"});
  auto b = RunModel(dir_, args);
  ASSERT_EQ(b.code, 0) << b.out;
  EXPECT_EQ(LastJsonLine(a.out)["backend"], "sim");
  EXPECT_EQ(LastJsonLine(a.out)["token_ids"], LastJsonLine(b.out)["token_ids"]);
  auto cuda = RunModel(dir_, {"generate", "--model", model_, "--prompt", "x", "--backend", "cuda"});
  if (cuda.code != 0) {  // always here: no GPU on the CI machine
    EXPECT_NE(cuda.out.find("cuda"), std::string::npos) << cuda.out;
  }
}

// bench prints both throughputs on its last line as JSON, both positive.
TEST_F(KvcModelTest, BenchPrintsThroughputJson) {
  auto r = RunModel(dir_, {"bench", "--model", model_, "--prompt-tokens", "32", "--batch", "2",
                           "--decode-tokens", "4", "--threads", "1"});
  ASSERT_EQ(r.code, 0) << r.out;
  auto j = LastJsonLine(r.out);
  ASSERT_TRUE(j.is_object()) << r.out;
  EXPECT_GT(j["prefill_tokens_per_second"].get<double>(), 0.0);
  EXPECT_GT(j["decode_tokens_per_second"].get<double>(), 0.0);
}

// A missing model directory, an unknown backend and a bad sampling value fail with
// a message and a non-zero exit code.
TEST_F(KvcModelTest, BadInputFailsClearly) {
  auto missing = RunModel(dir_, {"generate", "--model", dir_.path() + "/nope", "--prompt", "x"});
  EXPECT_NE(missing.code, 0);
  EXPECT_NE(missing.out.find("nope"), std::string::npos) << missing.out;
  auto backend =
      RunModel(dir_, {"generate", "--model", model_, "--prompt", "x", "--backend", "tpu"});
  EXPECT_NE(backend.code, 0);
  EXPECT_NE(backend.out.find("tpu"), std::string::npos) << backend.out;
  EXPECT_EQ(RunModel(dir_, {}).code, 2);                             // no subcommand
  EXPECT_EQ(RunModel(dir_, {"generate", "--prompt", "x"}).code, 2);  // no --model
  EXPECT_EQ(RunModel(dir_, {"--help"}).code, 0);
  auto topp = RunModel(dir_, {"generate", "--model", model_, "--prompt", "x", "--top-p", "0"});
  EXPECT_EQ(topp.code, 2);
  EXPECT_NE(topp.out.find("top_p"), std::string::npos) << topp.out;
}

}  // namespace
}  // namespace kvc

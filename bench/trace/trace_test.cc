#include "bench/trace/trace.h"

#include <gtest/gtest.h>

#include <sstream>

namespace kvc::trace {
namespace {

StatusOr<std::vector<TraceRequest>> Parse(const std::string& text) {
  std::istringstream in(text);
  return ParseTrace(in, "t.jsonl");
}

std::string ErrorOf(const std::string& text) {
  auto r = Parse(text);
  return r.ok() ? "" : std::string(r.status().message());
}

// A well-formed Mooncake line is read field by field; blank lines are skipped.
TEST(TraceTest, GoodLinesParse) {
  auto r = Parse(
      "{\"timestamp\": 0, \"input_length\": 1000, \"output_length\": 5, \"hash_ids\": [0, 1]}\n"
      "\n"
      "{\"timestamp\": 12.5, \"input_length\": 600, \"output_length\": 2, \"hash_ids\": [0, 7]}\n");
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ((*r)[0].input_length, 1000);
  EXPECT_EQ((*r)[0].output_length, 5);
  EXPECT_EQ((*r)[0].hash_ids, (std::vector<int64_t>{0, 1}));
  EXPECT_EQ((*r)[1].index, 1);
  EXPECT_DOUBLE_EQ((*r)[1].timestamp_ms, 12.5);
  EXPECT_EQ((*r)[1].session_id, "");
}

// input_tokens/output_tokens are aliases; session_id is kept (string or integer).
TEST(TraceTest, AliasesAndSessionId) {
  auto r = Parse(
      "{\"timestamp\": 1, \"input_tokens\": 10, \"output_tokens\": 3, \"session_id\": \"s1\"}\n"
      "{\"timestamp\": 2, \"input_tokens\": 10, \"output_length\": 3, \"session_id\": 42}\n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)[0].input_length, 10);
  EXPECT_EQ((*r)[0].output_length, 3);
  EXPECT_EQ((*r)[0].session_id, "s1");
  EXPECT_EQ((*r)[1].session_id, "42");
  EXPECT_TRUE((*r)[1].hash_ids.empty());
}

// Each kind of bad line is rejected with the line number and the field at fault.
TEST(TraceTest, BadLinesNameTheLine) {
  const std::string good = "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 1}\n";
  EXPECT_NE(ErrorOf(good + "{not json\n").find("t.jsonl:2: not valid JSON"), std::string::npos);
  EXPECT_NE(ErrorOf(good + "[1,2]\n").find("t.jsonl:2: line is not a JSON object"),
            std::string::npos);
  EXPECT_NE(ErrorOf(good + good + "{\"timestamp\": 0, \"output_length\": 1}\n")
                .find("t.jsonl:3: missing 'input_length'"),
            std::string::npos);
  EXPECT_NE(ErrorOf("{\"timestamp\": 0, \"input_length\": -4, \"output_length\": 1}\n")
                .find("t.jsonl:1: 'input_length' must be a positive integer"),
            std::string::npos);
  EXPECT_NE(ErrorOf("{\"timestamp\": \"x\", \"input_length\": 4, \"output_length\": 1}\n")
                .find("t.jsonl:1: 'timestamp'"),
            std::string::npos);
  EXPECT_NE(ErrorOf("{\"timestamp\": 0, \"input_length\": 600, \"output_length\": 1, "
                    "\"hash_ids\": [1, 2, 3]}\n")
                .find("t.jsonl:1: 'hash_ids' has 3 blocks"),
            std::string::npos);
  EXPECT_NE(ErrorOf("{\"timestamp\": 0, \"input_length\": 6, \"output_length\": 1, "
                    "\"hash_ids\": [-1]}\n")
                .find("non-negative"),
            std::string::npos);
  EXPECT_NE(ErrorOf("{\"timestamp\": 0, \"input_length\": 6, \"input_tokens\": 7, "
                    "\"output_length\": 1}\n")
                .find("disagree"),
            std::string::npos);
}

// Decreasing timestamps and empty traces are errors; a missing file is NotFound.
TEST(TraceTest, OrderingEmptyAndMissingFile) {
  EXPECT_NE(ErrorOf("{\"timestamp\": 5, \"input_length\": 1, \"output_length\": 1}\n"
                    "{\"timestamp\": 4, \"input_length\": 1, \"output_length\": 1}\n")
                .find("t.jsonl:2: timestamp 4 is earlier"),
            std::string::npos);
  EXPECT_NE(ErrorOf("\n\n").find("no requests"), std::string::npos);
  EXPECT_EQ(LoadTrace("/nonexistent/trace.jsonl").status().code(), absl::StatusCode::kNotFound);
}

// Prefix tokens of matched blocks are capped by the (partial) last block.
TEST(TraceTest, PrefixTokensCapsAtInput) {
  TraceRequest r;
  r.input_length = 1100;
  EXPECT_EQ(PrefixTokens(r, 0), 0);
  EXPECT_EQ(PrefixTokens(r, 2), 1024);
  EXPECT_EQ(PrefixTokens(r, 3), 1100);
}

// The largest input_length parses and bounds hash_ids and PrefixTokens without
// overflow (found by tests/fuzz: input_length + 511 overflowed int64).
TEST(TraceTest, HugeLengthsDoNotOverflow) {
  auto r = Parse(
      "{\"timestamp\": 0, \"input_length\": 9223372036854775807, \"output_length\": 1, "
      "\"hash_ids\": [1, 2]}\n");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(PrefixTokens((*r)[0], 2), 1024);
  EXPECT_EQ(PrefixTokens((*r)[0], INT64_MAX), INT64_MAX);
  EXPECT_EQ(PrefixTokens((*r)[0], -5), 0);
}

}  // namespace
}  // namespace kvc::trace

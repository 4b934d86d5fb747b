#include "kvc/common/utf8.h"

#include <gtest/gtest.h>

#include <random>

#include "kvc/common/json.h"

namespace kvc {
namespace {

const std::string kR(kUtf8Replacement);

// Well-formed text of every sequence length passes unchanged.
TEST(Utf8Test, ValidTextUnchanged) {
  const std::string s = "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80z";  // a é € 😀 z
  EXPECT_TRUE(IsValidUtf8(s));
  EXPECT_EQ(ToValidUtf8(s), s);
  EXPECT_TRUE(IsValidUtf8(""));
}

// Stray bytes, overlongs, surrogates and out-of-range code points become U+FFFD.
TEST(Utf8Test, InvalidSequencesReplaced) {
  EXPECT_EQ(ToValidUtf8("\xFF"), kR);
  EXPECT_EQ(ToValidUtf8("a\xC0\x80"
                        "b"),
            "a" + kR + kR + "b");                                 // overlong NUL
  EXPECT_EQ(ToValidUtf8("\xED\xA0\x80"), kR + kR + kR);           // lone surrogate U+D800
  EXPECT_EQ(ToValidUtf8("\xF4\x90\x80\x80"), kR + kR + kR + kR);  // past U+10FFFF
  EXPECT_EQ(ToValidUtf8("\xE2\x82"
                        "x"),
            kR + "x");                          // truncated, maximal subpart
  EXPECT_EQ(ToValidUtf8("\x80\xBF"), kR + kR);  // lone continuations
  EXPECT_EQ(ToValidUtf8("\xE2\x82"), kR);       // truncated at the end
  for (const char* bad : {"\xFF", "\xC0\x80", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xE2\x82"}) {
    EXPECT_FALSE(IsValidUtf8(bad)) << bad;
  }
}

// An unfinished but so-far-valid tail waits for more bytes; flush replaces it.
TEST(Utf8Test, TakeHoldsBackUnfinishedTail) {
  std::string pending = "ok\xE2\x82";
  EXPECT_EQ(TakeValidUtf8(&pending, false), "ok");
  EXPECT_EQ(pending, "\xE2\x82");
  pending += "\xAC!";
  EXPECT_EQ(TakeValidUtf8(&pending, false), "\xE2\x82\xAC!");
  EXPECT_TRUE(pending.empty());
  pending = "\xF0\x9F";
  EXPECT_EQ(TakeValidUtf8(&pending, true), kR);
  EXPECT_TRUE(pending.empty());
  pending = "\xE2x";  // decided invalid even without flush
  EXPECT_EQ(TakeValidUtf8(&pending, false), kR + "x");
}

// Random bytes fed in random pieces always come out valid, and match the one-shot repair.
TEST(Utf8Test, RandomBytesAlwaysComeOutValid) {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::string bytes(rng() % 64, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    std::string pending, streamed;
    for (size_t i = 0; i < bytes.size();) {
      const size_t n = std::min<size_t>(1 + rng() % 5, bytes.size() - i);
      pending.append(bytes, i, n);
      i += n;
      const std::string piece = TakeValidUtf8(&pending, false);
      ASSERT_TRUE(IsValidUtf8(piece));
      streamed += piece;
    }
    streamed += TakeValidUtf8(&pending, true);
    EXPECT_TRUE(IsValidUtf8(streamed));
    EXPECT_EQ(streamed, ToValidUtf8(bytes));
  }
}

// DumpJson never throws on invalid UTF-8 in keys or values; plain dump() would.
TEST(JsonTest, DumpJsonReplacesInvalidUtf8) {
  nlohmann::json j = {{"path", "/v1/\xFF\xFE"}, {std::string("k\xC0\x80"), "\xED\xA0\x80"}};
  EXPECT_THROW((void)j.dump(), nlohmann::json::type_error);
  std::string out;
  ASSERT_NO_THROW(out = DumpJson(j));
  EXPECT_TRUE(IsValidUtf8(out)) << out;
  EXPECT_NE(out.find("/v1/" + kR + kR), std::string::npos) << out;
  EXPECT_EQ(DumpJson(nlohmann::json{{"a", 1}}, 2), "{\n  \"a\": 1\n}");
}

}  // namespace
}  // namespace kvc

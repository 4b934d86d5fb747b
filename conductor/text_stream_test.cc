#include "kvc/conductor/text_stream.h"

#include <gtest/gtest.h>

#include "kvc/tokenizer/tokenizer_builder.h"

namespace kvc::conductor {
namespace {

// A byte-level tokenizer: ids 0..255 are the bytes, 256.. special tokens.
std::unique_ptr<tokenizer::Tokenizer> ByteTokenizer() {
  tokenizer::ByteLevelTokenizerSpec spec;
  spec.special_tokens = {"<|end|>"};
  return *tokenizer::ParseTokenizerJson(tokenizer::BuildByteLevelTokenizerJson(spec));
}

std::string Feed(TextStream& s, const std::string& bytes) {
  std::string out;
  for (unsigned char c : bytes) out += s.Add(c);
  return out;
}

TEST(TextStreamTest, PlainTextStreamsEveryByte) {
  auto tok = ByteTokenizer();
  TextStream s(*tok, {}, {});
  EXPECT_EQ(Feed(s, "Hello"), "Hello");
  EXPECT_EQ(s.Finish(), "");
  EXPECT_EQ(s.tokens(), 5u);
}

// Text that may begin a stop string is held back; the match cuts the text.
TEST(TextStreamTest, StopStringCutsAndHoldsBack) {
  auto tok = ByteTokenizer();
  TextStream s(*tok, {}, {"lo w"});
  std::string out;
  out += s.Add('H');
  EXPECT_EQ(out, "") << "3 bytes may start the 4-byte stop string";
  out += Feed(s, "ello");
  EXPECT_FALSE(s.finished());
  out += Feed(s, " world");
  EXPECT_TRUE(s.finished());
  EXPECT_EQ(out, "Hel");
  EXPECT_EQ(s.text(), "Hel");
  EXPECT_EQ(s.tokens(), 7u) << "tokens up to the one completing the match";
  EXPECT_EQ(s.Add('!'), "");
  EXPECT_EQ(s.tokens(), 7u);
}

// Without a match the held-back tail comes out at the end.
TEST(TextStreamTest, FinishReleasesHeldBackText) {
  auto tok = ByteTokenizer();
  TextStream s(*tok, {}, {"xyz"});
  std::string out = Feed(s, "abcd");
  EXPECT_EQ(out, "ab");
  out += s.Finish();
  EXPECT_EQ(out, "abcd");
}

// A stop id ends the text and adds none of its own.
TEST(TextStreamTest, StopIdAddsNoText) {
  auto tok = ByteTokenizer();
  TextStream s(*tok, {256, '!'}, {});
  EXPECT_EQ(Feed(s, "Hi!"), "Hi");
  EXPECT_TRUE(s.finished());
  EXPECT_EQ(s.tokens(), 3u);
  EXPECT_EQ(s.text(), "Hi");
}

// A UTF-8 character split over two tokens comes out whole.
TEST(TextStreamTest, NeverSplitsUtf8) {
  auto tok = ByteTokenizer();
  TextStream s(*tok, {}, {});
  EXPECT_EQ(s.Add(0xC3), "");
  EXPECT_EQ(s.Add(0xA9), "\xC3\xA9");
  TextStream held(*tok, {}, {"zz"});
  EXPECT_EQ(Feed(held, "a\xC3\xA9"), "a");
  EXPECT_EQ(held.Finish(), "\xC3\xA9");
}

}  // namespace
}  // namespace kvc::conductor

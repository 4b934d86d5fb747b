// RequestStream: stop strings cut the text, stop ids end without text, EOS can be
// ignored, max_tokens gives "length".
#include "kvc/engine/generator.h"

#include <gtest/gtest.h>

#include "kvc/tokenizer/tokenizer_builder.h"

namespace kvc::engine {
namespace {

class RequestStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tokenizer::ByteLevelTokenizerSpec spec;
    spec.special_tokens = tokenizer::KvcTinySpecialTokens();
    tok_ = std::move(tokenizer::ParseTokenizerJson(tokenizer::BuildByteLevelTokenizerJson(spec)))
               .value();
  }
  // Logits that make greedy sampling pick `id`.
  std::vector<float> Pick(int32_t id) const {
    std::vector<float> l(static_cast<size_t>(tok_->vocab_size()), 0.0f);
    l[static_cast<size_t>(id)] = 1.0f;
    return l;
  }
  // Feeds the bytes of `text` as tokens until the stream finishes.
  void Feed(RequestStream& s, const std::string& text) {
    for (unsigned char c : text) {
      if (s.finished()) return;
      s.Next(Pick(c));
    }
  }
  std::unique_ptr<tokenizer::Tokenizer> tok_;
};

// The text stops before the stop string, which may span several tokens.
TEST_F(RequestStreamTest, StopStringCutsText) {
  SamplingOptions o;
  o.max_tokens = 100;
  o.stop_strings = {"END"};
  RequestStream s(o, tok_.get(), {});
  Feed(s, "hello ENDmore");
  EXPECT_TRUE(s.finished());
  EXPECT_EQ(s.finish_reason(), "stop");
  EXPECT_EQ(s.text(), "hello ");
  EXPECT_EQ(s.token_ids().size(), 9u);
}

// EOS ends generation unless ignored; max_tokens ends it with "length".
TEST_F(RequestStreamTest, EosAndLength) {
  SamplingOptions o;
  o.max_tokens = 4;
  RequestStream a(o, tok_.get(), {260});
  a.Next(Pick('h'));
  a.Next(Pick(260));
  EXPECT_EQ(a.finish_reason(), "stop");
  EXPECT_EQ(a.text(), "h");
  o.ignore_eos = true;
  RequestStream b(o, tok_.get(), {260});
  for (int i = 0; i < 4; ++i) b.Next(Pick(i % 2 ? 260 : 'x'));
  EXPECT_EQ(b.finish_reason(), "length");
  EXPECT_EQ(b.token_ids().size(), 4u);
  EXPECT_EQ(b.text(), "xx");  // special tokens add no text
}

// A multi-byte character split over tokens appears only once complete.
TEST_F(RequestStreamTest, StreamsWholeCharacters) {
  SamplingOptions o;
  o.max_tokens = 10;
  RequestStream s(o, tok_.get(), {});
  const std::string euro = "\xE2\x82\xAC";
  s.Next(Pick(static_cast<unsigned char>(euro[0])));
  s.Next(Pick(static_cast<unsigned char>(euro[1])));
  EXPECT_EQ(s.text(), "");
  s.Next(Pick(static_cast<unsigned char>(euro[2])));
  EXPECT_EQ(s.text(), euro);
}

}  // namespace
}  // namespace kvc::engine

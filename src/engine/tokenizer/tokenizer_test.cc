// Tokenizer round trips on tokenizer files generated here: byte-level BPE with merges
// and special tokens, SentencePiece trained on the spot, streaming detokenization.
#include "kvc/tokenizer/tokenizer.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "kvc/common/utf8.h"
#include "kvc/tokenizer/chat_template.h"
#include "kvc/tokenizer/incremental_detokenizer.h"
#include "kvc/tokenizer/tokenizer_builder.h"
#include "kvc/v1/common.pb.h"
#include "src/engine/tokenizer/internal/pretokenizer.h"
#include "src/engine/tokenizer/internal/sp_processor.h"

namespace kvc::tokenizer {
namespace {

const std::vector<std::string> kTexts = {
    "Hello world, hello there!",
    "naïve café — 東京タワー 🚀🚀 emoji",
    "  leading spaces\n\nand\ttabs  ",
    "numbers 1234567 and 3.14159",
    "it's we'll they'RE",
    "",
};

std::unique_ptr<Tokenizer> MakeBpe(bool llama3) {
  ByteLevelTokenizerSpec spec;
  spec.merges = {{"h", "e"}, {"l", "l"},   {"he", "ll"},     {"hell", "o"},       {" ", "w"},
                 {"o", "r"}, {" w", "or"}, {"\xE6", "\x9D"}, {"\xE6\x9D", "\xB1"}};
  spec.special_tokens = KvcTinySpecialTokens();
  spec.llama3_pre_tokenizer = llama3;
  auto tok = ParseTokenizerJson(BuildByteLevelTokenizerJson(spec));
  EXPECT_TRUE(tok.ok()) << tok.status();
  return std::move(tok).value();
}

// Encode then decode gives back the exact text for both pre-tokenizer flavours.
TEST(BpeTokenizerTest, RoundTripsMultiByteText) {
  for (bool llama3 : {false, true}) {
    auto tok = MakeBpe(llama3);
    for (const auto& text : kTexts) {
      const auto ids = tok->Encode(text);
      EXPECT_EQ(tok->Decode(ids), text) << "llama3=" << llama3;
    }
  }
}

// Merges apply: "hello" becomes one token; a 3-byte CJK character merges to one id.
TEST(BpeTokenizerTest, AppliesMergesByRank) {
  auto tok = MakeBpe(true);
  EXPECT_EQ(tok->Encode("hello").size(), 1u);
  EXPECT_EQ(tok->Encode("\xE6\x9D\xB1").size(), 1u);  // 東
  EXPECT_EQ(tok->Encode(" world").size(), 3u);        // " wor" + "l" + "d"
}

// Special tokens written in the text become single ids only when parsing specials.
TEST(BpeTokenizerTest, SpecialTokensParsedOnlyWhenAsked) {
  auto tok = MakeBpe(true);
  const auto eot = tok->TokenId("<|eot_id|>");
  ASSERT_TRUE(eot.has_value());
  EXPECT_TRUE(tok->IsSpecial(*eot));
  const auto ids = tok->Encode("hi<|eot_id|>there");
  EXPECT_EQ(std::count(ids.begin(), ids.end(), *eot), 1);
  EXPECT_EQ(tok->Decode(ids), "hi<|eot_id|>there");
  EXPECT_EQ(tok->Decode(ids, /*skip_special=*/true), "hithere");
  const auto plain = tok->Encode("hi<|eot_id|>there", /*parse_special=*/false);
  EXPECT_EQ(std::count(plain.begin(), plain.end(), *eot), 0);
  EXPECT_EQ(tok->Decode(plain), "hi<|eot_id|>there");
}

// A tokenizer.json that is not byte-level BPE is refused with a message saying so.
TEST(BpeTokenizerTest, RejectsNonByteLevel) {
  auto tok = ParseTokenizerJson(R"({"model": {"type": "Unigram", "vocab": []}})");
  ASSERT_FALSE(tok.ok());
  EXPECT_NE(std::string(tok.status().message()).find("Unigram"), std::string::npos);
  EXPECT_FALSE(ParseTokenizerJson("not json").ok());
}

// Pre-tokenization covers the text exactly and splits words from their spaces.
TEST(PreTokenizerTest, PiecesConcatenateToInput) {
  using internal::PreTokenize;
  using internal::PreTokenizerFlavor;
  for (auto f :
       {PreTokenizerFlavor::kGpt2, PreTokenizerFlavor::kLlama3, PreTokenizerFlavor::kQwen2}) {
    for (const auto& text : kTexts) {
      std::string joined;
      for (auto p : PreTokenize(text, f)) joined += std::string(p);
      EXPECT_EQ(joined, text);
    }
  }
  auto pieces = PreTokenize("Hello world  12345", PreTokenizerFlavor::kLlama3);
  std::vector<std::string> got(pieces.begin(), pieces.end());
  EXPECT_EQ(got, (std::vector<std::string>{"Hello", " world", " ", " ", "123", "45"}));
}

// Streaming: each emitted piece is valid UTF-8 even when tokens split characters.
TEST(IncrementalDetokenizerTest, NeverSplitsACharacter) {
  auto tok = MakeBpe(false);
  const std::string text = "naïve 東京 🚀!";
  IncrementalDetokenizer detok(*tok);
  std::string streamed;
  for (int32_t id : tok->Encode(text)) {
    const std::string piece = detok.Add(id);
    // A complete piece never ends inside a multi-byte sequence.
    if (!piece.empty()) {
      const auto last = static_cast<unsigned char>(piece.back());
      EXPECT_TRUE(last < 0x80 || (last & 0xC0) == 0x80) << "ends on a lead byte";
      EXPECT_EQ(piece.size(), 0u + piece.size());
    }
    streamed += piece;
  }
  streamed += detok.Flush();
  EXPECT_EQ(streamed, text);
  // The 4-byte emoji arrives as 4 byte tokens: nothing is emitted until the last one.
  IncrementalDetokenizer d2(*tok);
  const auto emoji = tok->Encode("🚀");
  ASSERT_EQ(emoji.size(), 4u);
  for (size_t i = 0; i + 1 < emoji.size(); ++i) EXPECT_EQ(d2.Add(emoji[i]), "");
  EXPECT_EQ(d2.Add(emoji.back()), "🚀");
}

// Bytes that cannot form a character (stray continuation, C0, FF, a lead byte
// cut off by another) come out as U+FFFD, piece by piece, and an unfinished
// character at the end is flushed as U+FFFD: every piece is valid UTF-8.
TEST(IncrementalDetokenizerTest, InvalidBytesBecomeReplacementCharacters) {
  auto tok = MakeBpe(false);
  const std::string bytes =
      "a\xFF\xC0\x80"
      "b\xE6\x9D"
      "c\xED\xA0\x80\xF0\x9F";
  IncrementalDetokenizer detok(*tok);
  std::string streamed;
  for (int32_t id : tok->Encode(bytes, /*parse_special=*/false)) {
    const std::string piece = detok.Add(id);
    EXPECT_TRUE(IsValidUtf8(piece)) << piece;
    streamed += piece;
  }
  const std::string tail = detok.Flush();
  EXPECT_EQ(tail, kUtf8Replacement) << "the unfinished 4-byte character";
  streamed += tail;
  EXPECT_EQ(streamed, ToValidUtf8(bytes));
  EXPECT_EQ(detok.text(), streamed);
}

// Random token ids (what a random-weight model emits) always stream as valid UTF-8.
TEST(IncrementalDetokenizerTest, RandomTokensStreamValidUtf8) {
  auto tok = MakeBpe(true);
  std::mt19937 rng(16);
  for (int round = 0; round < 50; ++round) {
    IncrementalDetokenizer detok(*tok, /*skip_special=*/round % 2 == 0);
    for (int i = 0; i < 200; ++i) {
      const std::string piece = detok.Add(static_cast<int32_t>(rng() % tok->vocab_size()));
      ASSERT_TRUE(IsValidUtf8(piece)) << "round " << round << " token " << i;
    }
    ASSERT_TRUE(IsValidUtf8(detok.Flush()));
    EXPECT_TRUE(IsValidUtf8(detok.text()));
  }
}

// SentencePiece: a model trained here round-trips text and is found by LoadTokenizer,
// in a process that also uses gRPC's protobuf (libsentencepiece bundles another one).
TEST(SentencePieceTokenizerTest, TrainedModelRoundTrips) {
  kvc::v1::SamplingParams proto;  // loads and uses libprotobuf 3.21 in this process
  proto.set_max_tokens(7);
  ASSERT_EQ(kvc::v1::SamplingParams().GetDescriptor()->full_name(), "kvc.v1.SamplingParams");
  if (!internal::SentencePieceAvailable()) GTEST_SKIP() << "libkvc_sp_shim.so not loadable here";
  const std::string dir = ::testing::TempDir() + "/sp_" + std::to_string(::getpid());
  ASSERT_EQ(std::system(("mkdir -p " + dir).c_str()), 0);
  {
    std::ofstream corpus(dir + "/corpus.txt");
    for (int i = 0; i < 200; ++i) {
      corpus << "the quick brown fox jumps over the lazy dog " << i << "\n"
             << "hello world, this is a small corpus for sentencepiece\n";
    }
  }
  ASSERT_EQ(internal::TrainSentencePiece(dir + "/corpus.txt", dir + "/tokenizer", 400), "");
  auto tok = LoadTokenizer(dir);
  ASSERT_TRUE(tok.ok()) << tok.status();
  EXPECT_EQ((*tok)->kind(), "sentencepiece");
  for (const std::string text : {"hello world", "the lazy fox, 東京 ü"}) {
    const auto ids = (*tok)->Encode(text);
    EXPECT_EQ((*tok)->Decode(ids), text);
    IncrementalDetokenizer detok(**tok);
    std::string streamed;
    for (int32_t id : ids) streamed += detok.Add(id);
    EXPECT_EQ(streamed + detok.Flush(), text);
  }
  EXPECT_EQ(DetectChatFamily(**tok), ChatFamily::kLlama2);
  // Control pieces written in the text become their ids, back to back too.
  const auto ids = (*tok)->Encode("<s></s>hello</s>");
  const int32_t bos = *(*tok)->TokenId("<s>"), eos = *(*tok)->TokenId("</s>");
  ASSERT_GE(ids.size(), 4u);
  EXPECT_EQ(ids[0], bos);
  EXPECT_EQ(ids[1], eos);
  EXPECT_EQ(ids.back(), eos);
  EXPECT_TRUE((*tok)->IsSpecial(bos));
  EXPECT_EQ((*tok)->Decode(ids, /*skip_special=*/true), "hello");
  EXPECT_EQ(proto.ByteSizeLong(), 2u);
  std::system(("rm -rf " + dir).c_str());
}

// Chat templates render the family's markers and end with the assistant prompt.
TEST(ChatTemplateTest, RendersPerFamily) {
  auto tok = MakeBpe(true);
  EXPECT_EQ(DetectChatFamily(*tok), ChatFamily::kLlama3);
  const std::vector<ChatMessage> msgs = {{"system", "be brief"}, {"user", "hi"}};
  EXPECT_EQ(ApplyChatTemplate(ChatFamily::kLlama3, msgs),
            "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nbe brief<|eot_id|>"
            "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"
            "<|start_header_id|>assistant<|end_header_id|>\n\n");
  EXPECT_EQ(ApplyChatTemplate(ChatFamily::kChatMl, msgs),
            "<|im_start|>system\nbe brief<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n"
            "<|im_start|>assistant\n");
  EXPECT_EQ(ApplyChatTemplate(ChatFamily::kLlama2, msgs),
            "<s>[INST] <<SYS>>\nbe brief\n<</SYS>>\n\nhi [/INST]");
  // The rendered special markers each encode to one id.
  const auto ids = tok->Encode(ApplyChatTemplate(ChatFamily::kLlama3, msgs));
  EXPECT_EQ(ids.front(), *tok->TokenId("<|begin_of_text|>"));
}

}  // namespace
}  // namespace kvc::tokenizer

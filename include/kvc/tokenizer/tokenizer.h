// Text <-> token ids for the served model. Two implementations: Hugging Face
// tokenizer.json byte-level BPE (GPT-2, Llama-3, Qwen2, SmolLM) and SentencePiece
// tokenizer.model (Llama-2, TinyLlama). Immutable after loading; thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "kvc/common/status.h"

namespace kvc::tokenizer {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Token ids of `text`. With `parse_special`, added/special tokens written literally
  // in the text (e.g. "<|eot_id|>") become their single ids; otherwise they are
  // encoded as ordinary text. Never fails: every byte sequence has an encoding.
  virtual std::vector<int32_t> Encode(std::string_view text, bool parse_special = true) const = 0;

  // The text of `ids`; ids outside the vocabulary are skipped. With `skip_special`,
  // special tokens are left out. Invalid UTF-8 (a split character) is kept as bytes.
  virtual std::string Decode(std::span<const int32_t> ids, bool skip_special = false) const = 0;

  // The raw bytes token `id` stands for (possibly part of a UTF-8 character),
  // "" for an unknown id. `first` says the token starts the output, which matters
  // for SentencePiece's dummy-prefix space.
  virtual std::string TokenBytes(int32_t id, bool first) const = 0;

  // Number of ids (largest id + 1).
  virtual int64_t vocab_size() const = 0;
  // The id of a token written exactly as in the vocabulary, e.g. "<|eot_id|>".
  virtual std::optional<int32_t> TokenId(std::string_view token) const = 0;
  virtual bool IsSpecial(int32_t id) const = 0;
  // The texts of the added/special tokens Encode(..., parse_special=true) recognises,
  // longest first ("<|eot_id|>", "<s>"); empty when there are none.
  virtual std::vector<std::string> SpecialTokenTexts() const { return {}; }
  // "byte_level_bpe" or "sentencepiece".
  virtual std::string kind() const = 0;
};

// Loads DIR/tokenizer.json when present, else DIR/tokenizer.model.
[[nodiscard]] StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& dir);

// Parses a tokenizer.json document (byte-level BPE only; the error says so otherwise).
[[nodiscard]] StatusOr<std::unique_ptr<Tokenizer>> ParseTokenizerJson(const std::string& json_text);

// Loads a SentencePiece model file.
[[nodiscard]] StatusOr<std::unique_ptr<Tokenizer>> LoadSentencePiece(const std::string& path);

}  // namespace kvc::tokenizer

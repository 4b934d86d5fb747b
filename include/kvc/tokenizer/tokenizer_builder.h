// Writes byte-level BPE tokenizer.json documents in the Hugging Face format, for the
// built-in kvc-tiny model and for tests that need tokenizer files of their own.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace kvc::tokenizer {

struct ByteLevelTokenizerSpec {
  // Merges as raw byte strings ("h","e"), applied in this order of priority. Ids:
  // 0..255 the bytes, then one per merge, then the special tokens.
  std::vector<std::pair<std::string, std::string>> merges;
  std::vector<std::string> special_tokens;  // e.g. "<|begin_of_text|>"
  bool llama3_pre_tokenizer = true;         // Llama-3 split regex, else GPT-2's
};

// The tokenizer.json text. Its vocabulary size is 256 + merges + special tokens.
std::string BuildByteLevelTokenizerJson(const ByteLevelTokenizerSpec& spec);

// The special tokens of the built-in model (Llama-3 chat format).
std::vector<std::string> KvcTinySpecialTokens();

}  // namespace kvc::tokenizer

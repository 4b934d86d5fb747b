// The byte-level BPE pre-tokenizers, written by hand instead of a regex engine
// (no look-ahead regex library is available from Debian for C++20 here).
//   kGpt2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//   kLlama3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
//            ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+   (also Qwen2's, which
//            uses \p{N} singly; kQwen2 below)
// Unicode classes are approximated: \p{N} = ASCII digits; \p{L} = ASCII letters and
// every non-ASCII code point that is not whitespace or in the common punctuation
// blocks. Pre-tokenization only changes which merges apply, never round-trip text.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kvc::tokenizer::internal {

enum class PreTokenizerFlavor { kGpt2, kLlama3, kQwen2 };

// Splits `text` into pieces whose concatenation is `text`.
std::vector<std::string_view> PreTokenize(std::string_view text, PreTokenizerFlavor flavor);

}  // namespace kvc::tokenizer::internal

// UTF-8 validation and repair for bytes that came from outside (request paths,
// headers, bodies, peer strings, tokenizer output). Invalid input never fails:
// each maximal invalid subsequence becomes U+FFFD (the Unicode "substitution of
// maximal subparts" practice), so the result is always valid UTF-8.
// Thread-safety: free functions, no shared state.
#pragma once

#include <string>
#include <string_view>

namespace kvc {

// U+FFFD REPLACEMENT CHARACTER, encoded.
inline constexpr std::string_view kUtf8Replacement = "\xEF\xBF\xBD";

// True when `s` is well-formed UTF-8 (no overlongs, surrogates or code points
// above U+10FFFF; no truncated sequence).
[[nodiscard]] bool IsValidUtf8(std::string_view s);

// `s` with every invalid subsequence replaced by U+FFFD.
[[nodiscard]] std::string ToValidUtf8(std::string_view s);

// For streams of bytes that arrive in pieces: removes from the front of
// `*pending` everything that is decided and returns it as valid UTF-8 (invalid
// subsequences become U+FFFD). A trailing sequence that is valid so far but
// unfinished stays in `*pending` for the next call, unless `flush` is true (end
// of stream), when it too becomes U+FFFD and `*pending` ends empty.
[[nodiscard]] std::string TakeValidUtf8(std::string* pending, bool flush);

}  // namespace kvc

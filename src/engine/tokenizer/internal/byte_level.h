// GPT-2's byte-level alphabet: every byte maps to one printable code point, so BPE
// vocabularies are strings of visible characters, and UTF-8 helpers.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kvc::tokenizer::internal {

// The code point byte `b` is written as in a byte-level vocabulary.
uint32_t ByteToCodePoint(uint8_t b);
// The byte a vocabulary code point stands for; nullopt when it is not in the alphabet.
std::optional<uint8_t> CodePointToByte(uint32_t cp);

// Appends the UTF-8 encoding of `cp`.
void AppendUtf8(uint32_t cp, std::string* out);
// Decodes the code point at `s[*pos]` and advances; invalid bytes decode as
// themselves (0x80..0xFF) one at a time.
uint32_t NextCodePoint(std::string_view s, size_t* pos);

// Each byte of `bytes` as its byte-level symbol (one UTF-8 string per byte).
std::vector<std::string> BytesToSymbols(std::string_view bytes);
// The bytes a byte-level vocabulary string stands for; nullopt when a code point is
// outside the alphabet.
std::optional<std::string> SymbolsToBytes(std::string_view token);

}  // namespace kvc::tokenizer::internal

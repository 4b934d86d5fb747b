#include "src/engine/tokenizer/internal/pretokenizer.h"

#include <cctype>

#include "src/engine/tokenizer/internal/byte_level.h"

namespace kvc::tokenizer::internal {
namespace {

bool IsSpace(uint32_t c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' || c == 0x85 ||
         c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
         c == 0x202F || c == 0x205F || c == 0x3000;
}
bool IsNumber(uint32_t c) { return c >= '0' && c <= '9'; }
bool IsPunctBlock(uint32_t c) {
  return (c >= 0xA1 && c <= 0xBF) || c == 0xD7 || c == 0xF7 || (c >= 0x2000 && c <= 0x2BFF) ||
         (c >= 0x3000 && c <= 0x303F) || (c >= 0xFE30 && c <= 0xFE4F) ||
         (c >= 0xFF00 && c <= 0xFF0F) || (c >= 0x1F000 && c <= 0x1FAFF);
}
bool IsLetter(uint32_t c) {
  if (c < 0x80) return std::isalpha(static_cast<int>(c)) != 0;
  return !IsSpace(c) && !IsPunctBlock(c);
}
bool IsOther(uint32_t c) { return !IsSpace(c) && !IsLetter(c) && !IsNumber(c); }

// A cursor over code points.
struct Cursor {
  std::string_view s;
  size_t Peek(size_t pos, uint32_t* cp) const {  // returns the position after the cp
    if (pos >= s.size()) return pos;
    size_t next = pos;
    *cp = NextCodePoint(s, &next);
    return next;
  }
  template <typename Pred>
  size_t SkipWhile(size_t pos, Pred pred, size_t max_count = SIZE_MAX) const {
    uint32_t cp = 0;
    for (size_t n = 0; n < max_count && pos < s.size(); ++n) {
      size_t next = Peek(pos, &cp);
      if (!pred(cp)) break;
      pos = next;
    }
    return pos;
  }
};

size_t MatchContraction(const Cursor& c, size_t pos, bool ignore_case) {
  if (c.s[pos] != '\'') return 0;
  static const char* kSuffixes[] = {"s", "t", "re", "ve", "m", "ll", "d"};
  for (const char* suf : kSuffixes) {
    const size_t len = std::char_traits<char>::length(suf);
    if (pos + 1 + len > c.s.size()) continue;
    bool ok = true;
    for (size_t i = 0; i < len && ok; ++i) {
      char ch = c.s[pos + 1 + i];
      if (ignore_case) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      ok = ch == suf[i];
    }
    if (ok) return 1 + len;
  }
  return 0;
}

// \s+(?!\S) | \s+ : a whitespace run, leaving its last space for the next word.
size_t MatchSpaces(const Cursor& c, size_t pos) {
  const size_t end = c.SkipWhile(pos, IsSpace);
  if (end == pos) return 0;
  if (end == c.s.size()) return end - pos;
  // Back off one code point so the following word can take its leading space.
  size_t last = pos, it = pos;
  while (it < end) {
    last = it;
    uint32_t cp;
    it = c.Peek(it, &cp);
  }
  return last > pos ? last - pos : end - pos;
}

size_t MatchGpt2(const Cursor& c, size_t pos, bool digits_singly) {
  if (size_t n = MatchContraction(c, pos, false)) return n;
  uint32_t cp = 0;
  size_t start = pos;
  size_t after = c.Peek(pos, &cp);
  if (cp == ' ' && after < c.s.size()) {
    uint32_t next;
    c.Peek(after, &next);
    if (!IsSpace(next)) start = after;  // " ?" prefix
  }
  uint32_t first = 0;
  c.Peek(start, &first);
  if (IsLetter(first)) return c.SkipWhile(start, IsLetter) - pos;
  if (IsNumber(first)) return c.SkipWhile(start, IsNumber, digits_singly ? 1 : SIZE_MAX) - pos;
  if (IsOther(first)) return c.SkipWhile(start, IsOther) - pos;
  return MatchSpaces(c, pos);
}

size_t MatchLlama3(const Cursor& c, size_t pos, size_t max_digits) {
  if (size_t n = MatchContraction(c, pos, true)) return n;
  uint32_t cp = 0;
  const size_t after = c.Peek(pos, &cp);
  // [^\r\n\p{L}\p{N}]?\p{L}+
  if (IsLetter(cp)) return c.SkipWhile(pos, IsLetter) - pos;
  if (cp != '\r' && cp != '\n' && !IsNumber(cp) && after < c.s.size()) {
    uint32_t next;
    c.Peek(after, &next);
    if (IsLetter(next)) return c.SkipWhile(after, IsLetter) - pos;
  }
  if (IsNumber(cp)) return c.SkipWhile(pos, IsNumber, max_digits) - pos;
  // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
  size_t start = pos;
  if (cp == ' ' && after < c.s.size()) {
    uint32_t next;
    c.Peek(after, &next);
    if (IsOther(next)) start = after;
  }
  uint32_t first = 0;
  c.Peek(start, &first);
  if (IsOther(first)) {
    size_t end = c.SkipWhile(start, IsOther);
    return c.SkipWhile(end, [](uint32_t x) { return x == '\r' || x == '\n'; }) - pos;
  }
  // \s*[\r\n]+ : a whitespace run that ends in newlines.
  const size_t ws_end = c.SkipWhile(pos, IsSpace);
  size_t last_nl = 0;
  for (size_t i = pos; i < ws_end; ++i) {
    if (c.s[i] == '\n' || c.s[i] == '\r') last_nl = i + 1;
  }
  if (last_nl > 0) return last_nl - pos;
  return MatchSpaces(c, pos);
}

}  // namespace

std::vector<std::string_view> PreTokenize(std::string_view text, PreTokenizerFlavor flavor) {
  std::vector<std::string_view> out;
  Cursor c{text};
  size_t pos = 0;
  while (pos < text.size()) {
    size_t n = flavor == PreTokenizerFlavor::kGpt2
                   ? MatchGpt2(c, pos, false)
                   : MatchLlama3(c, pos, flavor == PreTokenizerFlavor::kQwen2 ? 1 : 3);
    if (n == 0) n = 1;  // cannot happen with the patterns above; guarantees progress
    out.push_back(text.substr(pos, n));
    pos += n;
  }
  return out;
}

}  // namespace kvc::tokenizer::internal

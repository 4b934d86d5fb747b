#include "kvc/common/utf8.h"

#include <cstdint>

namespace kvc {
namespace {

enum class Kind { kValid, kInvalid, kIncomplete };

struct Sequence {
  Kind kind;
  size_t length;  // bytes it covers (for kInvalid: the maximal subpart to replace)
};

// Classifies the sequence starting at s[i] by the Unicode well-formed byte
// table (which excludes overlongs, surrogates and code points past U+10FFFF).
Sequence Classify(std::string_view s, size_t i) {
  const auto lead = static_cast<uint8_t>(s[i]);
  if (lead < 0x80) return {Kind::kValid, 1};
  size_t len = 0;
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (lead >= 0xC2 && lead <= 0xDF) {
    len = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    len = 3;
    if (lead == 0xE0) lo = 0xA0;
    if (lead == 0xED) hi = 0x9F;
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    len = 4;
    if (lead == 0xF0) lo = 0x90;
    if (lead == 0xF4) hi = 0x8F;
  } else {
    return {Kind::kInvalid, 1};  // continuation byte, C0/C1, F5..FF
  }
  for (size_t k = 1; k < len; ++k) {
    if (i + k >= s.size()) return {Kind::kIncomplete, k};
    const auto c = static_cast<uint8_t>(s[i + k]);
    const uint8_t min = k == 1 ? lo : 0x80, max = k == 1 ? hi : 0xBF;
    if (c < min || c > max) return {Kind::kInvalid, k};
  }
  return {Kind::kValid, len};
}

}  // namespace

bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const Sequence q = Classify(s, i);
    if (q.kind != Kind::kValid) return false;
    i += q.length;
  }
  return true;
}

std::string ToValidUtf8(std::string_view s) {
  std::string pending(s);
  return TakeValidUtf8(&pending, /*flush=*/true);
}

std::string TakeValidUtf8(std::string* pending, bool flush) {
  const std::string_view s = *pending;
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const Sequence q = Classify(s, i);
    if (q.kind == Kind::kIncomplete && !flush) break;  // may still complete
    if (q.kind == Kind::kValid) {
      out.append(s.substr(i, q.length));
    } else {
      out.append(kUtf8Replacement);
    }
    i += q.length;
  }
  pending->erase(0, i);
  return out;
}

}  // namespace kvc

#include "src/engine/tokenizer/internal/byte_level.h"

#include <array>

namespace kvc::tokenizer::internal {
namespace {

// Printable bytes keep their value; the 68 others are shifted to 256 + n in order.
struct Tables {
  std::array<uint32_t, 256> to_cp{};
  Tables() {
    uint32_t next = 256;
    for (uint32_t b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
      to_cp[b] = printable ? b : next++;
    }
  }
};

const Tables& T() {
  static const Tables tables;
  return tables;
}

}  // namespace

uint32_t ByteToCodePoint(uint8_t b) { return T().to_cp[b]; }

std::optional<uint8_t> CodePointToByte(uint32_t cp) {
  if (cp < 256) {
    if (T().to_cp[cp] == cp) return static_cast<uint8_t>(cp);
    return std::nullopt;
  }
  for (uint32_t b = 0; b < 256; ++b) {
    if (T().to_cp[b] == cp) return static_cast<uint8_t>(b);
  }
  return std::nullopt;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

namespace {
// Expected total length of a UTF-8 sequence from its lead byte; 0 when invalid.
size_t SequenceLength(uint8_t lead) {
  if (lead < 0x80) return 1;
  if ((lead & 0xE0) == 0xC0 && lead >= 0xC2) return 2;
  if ((lead & 0xF0) == 0xE0) return 3;
  if ((lead & 0xF8) == 0xF0 && lead <= 0xF4) return 4;
  return 0;
}
}  // namespace

uint32_t NextCodePoint(std::string_view s, size_t* pos) {
  const auto lead = static_cast<uint8_t>(s[*pos]);
  const size_t len = SequenceLength(lead);
  if (len <= 1 || *pos + len > s.size()) {
    ++*pos;
    return lead;
  }
  uint32_t cp = lead & (0xFF >> (len + 1));
  for (size_t i = 1; i < len; ++i) {
    const auto c = static_cast<uint8_t>(s[*pos + i]);
    if ((c & 0xC0) != 0x80) {
      ++*pos;
      return lead;
    }
    cp = (cp << 6) | (c & 0x3F);
  }
  *pos += len;
  return cp;
}

std::vector<std::string> BytesToSymbols(std::string_view bytes) {
  std::vector<std::string> out;
  out.reserve(bytes.size());
  for (char c : bytes) {
    std::string sym;
    AppendUtf8(ByteToCodePoint(static_cast<uint8_t>(c)), &sym);
    out.push_back(std::move(sym));
  }
  return out;
}

std::optional<std::string> SymbolsToBytes(std::string_view token) {
  std::string out;
  size_t pos = 0;
  while (pos < token.size()) {
    auto b = CodePointToByte(NextCodePoint(token, &pos));
    if (!b) return std::nullopt;
    out.push_back(static_cast<char>(*b));
  }
  return out;
}

}  // namespace kvc::tokenizer::internal

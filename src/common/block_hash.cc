#include "kvc/common/block_hash.h"

#include <bit>
#include <cassert>
#include <cstring>

#include "absl/strings/str_format.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

namespace kvc {
namespace {

void AppendLittleEndian64(uint64_t v, unsigned char* out) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<unsigned char>(v >> (8 * i));
}

}  // namespace

std::string BlockKey::ToHex() const { return absl::StrFormat("%016x%016x", hi, lo); }

BlockKey RootKey(std::string_view model_id) {
  static constexpr std::string_view kDomain = "kvc-root-v1";
  std::string seed(kDomain);
  seed.append(model_id);
  XXH128_hash_t h = XXH3_128bits(seed.data(), seed.size());
  return BlockKey{h.high64, h.low64};
}

BlockKey ChainKey(const BlockKey& parent, std::span<const uint32_t> tokens) {
  XXH3_state_t state;
  XXH3_128bits_reset(&state);
  unsigned char prefix[16];
  AppendLittleEndian64(parent.hi, prefix);
  AppendLittleEndian64(parent.lo, prefix + 8);
  XXH3_128bits_update(&state, prefix, sizeof(prefix));
  // Token ids are hashed as little-endian uint32; x86 and ARM servers are
  // little-endian, so the in-memory bytes are already in that order.
  static_assert(std::endian::native == std::endian::little, "big-endian hosts need a byte swap");
  XXH3_128bits_update(&state, tokens.data(), tokens.size_bytes());
  XXH128_hash_t h = XXH3_128bits_digest(&state);
  return BlockKey{h.high64, h.low64};
}

std::vector<BlockKey> ChainedBlockKeys(std::string_view model_id, std::span<const uint32_t> tokens,
                                       uint32_t block_tokens) {
  assert(block_tokens > 0);
  std::vector<BlockKey> keys;
  keys.reserve(tokens.size() / block_tokens);
  BlockKey parent = RootKey(model_id);
  for (size_t start = 0; start + block_tokens <= tokens.size(); start += block_tokens) {
    parent = ChainKey(parent, tokens.subspan(start, block_tokens));
    keys.push_back(parent);
  }
  return keys;
}

}  // namespace kvc

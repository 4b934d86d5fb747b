// Chained block keys: the identity of a KV block in the cluster-wide pool.
//
// key(0)   = H(root, tokens of block 0),  root = H("kvc-root-v1" || model id)
// key(i)   = H(key(i-1), tokens of block i)
// with H = xxh3-128 over the little-endian bytes of the previous key followed by
// the block's token ids as uint32 little-endian. A block's key therefore covers
// its own tokens and its whole prefix, and differs between models. Only full
// blocks get keys: a trailing partial block is never shared. Pure functions,
// thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace kvc {

struct BlockKey {
  uint64_t hi = 0;
  uint64_t lo = 0;

  friend bool operator==(const BlockKey&, const BlockKey&) = default;
  friend auto operator<=>(const BlockKey&, const BlockKey&) = default;
  // 32 lowercase hex digits, hi first.
  std::string ToHex() const;
};

struct BlockKeyHash {
  size_t operator()(const BlockKey& k) const noexcept {
    return static_cast<size_t>(k.lo ^ (k.hi * 0x9e3779b97f4a7c15ULL));
  }
};

// The root every chain of `model_id` starts from.
BlockKey RootKey(std::string_view model_id);

// The key of the block that follows `parent` and holds `tokens`.
BlockKey ChainKey(const BlockKey& parent, std::span<const uint32_t> tokens);

// Keys of every full block of `tokens`, in order (tokens.size() / block_tokens keys).
// REQUIRES: block_tokens > 0.
std::vector<BlockKey> ChainedBlockKeys(std::string_view model_id, std::span<const uint32_t> tokens,
                                       uint32_t block_tokens);

}  // namespace kvc

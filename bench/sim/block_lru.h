// An LRU set of KV cache blocks, keyed by trace hash id (one id = one 512-token block
// whose key covers its whole prefix, so a present id implies a shareable prefix).
// Not thread-safe.
#pragma once

#include <cstdint>
#include <list>
#include <span>
#include <unordered_map>

namespace kvc::sim {

class BlockLru {
 public:
  // Holds at most `capacity_blocks` blocks; a negative capacity means unbounded.
  explicit BlockLru(int64_t capacity_blocks);

  // Number of leading `ids` present (the reusable prefix), without touching them.
  int64_t MatchPrefix(std::span<const int64_t> ids) const;
  // Inserts or refreshes `ids`, then evicts least recently used blocks over capacity.
  // The first id ends most recent, so a prefix's head outlives its tail.
  void Touch(std::span<const int64_t> ids);

  int64_t size() const { return static_cast<int64_t>(index_.size()); }
  bool Contains(int64_t id) const { return index_.count(id) != 0; }

 private:
  int64_t capacity_;
  std::list<int64_t> order_;  // most recent first
  std::unordered_map<int64_t, std::list<int64_t>::iterator> index_;
};

}  // namespace kvc::sim

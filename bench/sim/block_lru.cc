#include "bench/sim/block_lru.h"

namespace kvc::sim {

BlockLru::BlockLru(int64_t capacity_blocks) : capacity_(capacity_blocks) {}

int64_t BlockLru::MatchPrefix(std::span<const int64_t> ids) const {
  int64_t matched = 0;
  for (int64_t id : ids) {
    if (index_.count(id) == 0) break;
    ++matched;
  }
  return matched;
}

void BlockLru::Touch(std::span<const int64_t> ids) {
  if (capacity_ == 0) return;
  for (auto it = ids.rbegin(); it != ids.rend(); ++it) {
    auto found = index_.find(*it);
    if (found != index_.end()) {
      order_.splice(order_.begin(), order_, found->second);
    } else {
      order_.push_front(*it);
      index_.emplace(*it, order_.begin());
    }
  }
  while (capacity_ >= 0 && size() > capacity_) {
    index_.erase(order_.back());
    order_.pop_back();
  }
}

}  // namespace kvc::sim

#include "store/master/range_allocator.h"

#include <cassert>
#include <iterator>

namespace kvc::store {

RangeAllocator::RangeAllocator(uint64_t capacity, uint64_t alignment)
    : capacity_(capacity), alignment_(alignment) {
  assert(alignment > 0 && (alignment & (alignment - 1)) == 0);
  if (capacity_ > 0) InsertFree(0, capacity_);
}

void RangeAllocator::InsertFree(uint64_t offset, uint64_t length) {
  by_offset_.emplace(offset, length);
  by_size_.emplace(length, offset);
}

void RangeAllocator::EraseFree(std::map<uint64_t, uint64_t>::iterator it) {
  auto [lo, hi] = by_size_.equal_range(it->second);
  for (auto s = lo; s != hi; ++s) {
    if (s->second == it->first) {
      by_size_.erase(s);
      break;
    }
  }
  by_offset_.erase(it);
}

std::optional<uint64_t> RangeAllocator::Allocate(uint64_t size) {
  if (size == 0 || size > capacity_) return std::nullopt;
  const uint64_t need = RoundUp(size);
  auto best = by_size_.lower_bound(need);  // best fit: the smallest range that fits
  if (best == by_size_.end()) return std::nullopt;
  const uint64_t offset = best->second;
  const uint64_t length = best->first;
  EraseFree(by_offset_.find(offset));
  if (length > need) InsertFree(offset + need, length - need);
  used_ += need;
  return offset;
}

bool RangeAllocator::AllocateAt(uint64_t offset, uint64_t size) {
  if (size == 0 || (offset & (alignment_ - 1)) != 0) return false;
  const uint64_t need = RoundUp(size);
  if (offset > capacity_ || need > capacity_ - offset) return false;
  auto it = by_offset_.upper_bound(offset);
  if (it == by_offset_.begin()) return false;
  --it;  // the free range starting at or before offset
  const uint64_t start = it->first;
  const uint64_t length = it->second;
  if (offset + need > start + length) return false;
  EraseFree(it);
  if (offset > start) InsertFree(start, offset - start);
  if (start + length > offset + need) InsertFree(offset + need, start + length - offset - need);
  used_ += need;
  return true;
}

bool RangeAllocator::Free(uint64_t offset, uint64_t size) {
  if (size == 0 || (offset & (alignment_ - 1)) != 0) return false;
  const uint64_t length = RoundUp(size);
  if (offset > capacity_ || length > capacity_ - offset) return false;
  // The range must not overlap any free range.
  auto next = by_offset_.lower_bound(offset);
  if (next != by_offset_.end() && next->first < offset + length) return false;
  if (next != by_offset_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second > offset) return false;
  }
  uint64_t start = offset;
  uint64_t merged = length;
  if (next != by_offset_.end() && next->first == offset + length) {
    merged += next->second;
    EraseFree(next);
  }
  auto after = by_offset_.lower_bound(offset);
  if (after != by_offset_.begin()) {
    auto prev = std::prev(after);
    if (prev->first + prev->second == offset) {
      start = prev->first;
      merged += prev->second;
      EraseFree(prev);
    }
  }
  InsertFree(start, merged);
  used_ -= length;
  return true;
}

uint64_t RangeAllocator::largest_free_range() const {
  return by_size_.empty() ? 0 : by_size_.rbegin()->first;
}

double RangeAllocator::fragmentation() const {
  const uint64_t free = free_bytes();
  if (free == 0) return 0.0;
  return 1.0 - static_cast<double>(largest_free_range()) / static_cast<double>(free);
}

}  // namespace kvc::store

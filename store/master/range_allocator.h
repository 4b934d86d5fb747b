// RangeAllocator: carves a byte range [0, capacity) into aligned allocations,
// best-fit with coalescing of neighbouring free ranges. The master runs one per
// DRAM segment; the segment server owns the memory, the allocator only offsets.
//
// Not thread-safe: the owner serialises calls.
#pragma once

#include <cstdint>
#include <map>
#include <optional>

namespace kvc::store {

class RangeAllocator {
 public:
  // REQUIRES: alignment is a power of two.
  explicit RangeAllocator(uint64_t capacity, uint64_t alignment = 64);

  // The offset of a fresh range of `size` bytes (rounded up to the alignment),
  // or nullopt when no free range is large enough (or size is 0).
  std::optional<uint64_t> Allocate(uint64_t size);
  // Claims exactly [offset, offset + size) (rounded up to the alignment), for
  // rebuilding state from a node's report. False (and no change) when the range
  // is out of bounds, misaligned, or overlaps an allocation.
  bool AllocateAt(uint64_t offset, uint64_t size);
  // Returns a range previously handed out with the same `size`. False (and no
  // change) when [offset, offset+size) is not entirely allocated.
  bool Free(uint64_t offset, uint64_t size);

  // The bytes an allocation of `size` really takes (size rounded up to the alignment).
  uint64_t AllocatedSize(uint64_t size) const { return RoundUp(size); }
  uint64_t capacity() const { return capacity_; }
  uint64_t used_bytes() const { return used_; }
  uint64_t free_bytes() const { return capacity_ - used_; }
  uint64_t largest_free_range() const;
  size_t free_range_count() const { return by_offset_.size(); }
  // 1 - largest_free_range / free_bytes: 0 when free space is one range, near 1
  // when it is shattered into small pieces. 0 when nothing is free.
  double fragmentation() const;

 private:
  uint64_t RoundUp(uint64_t size) const { return (size + alignment_ - 1) & ~(alignment_ - 1); }
  void InsertFree(uint64_t offset, uint64_t length);
  void EraseFree(std::map<uint64_t, uint64_t>::iterator it);

  const uint64_t capacity_;
  const uint64_t alignment_;
  uint64_t used_ = 0;
  std::map<uint64_t, uint64_t> by_offset_;     // free ranges: offset -> length
  std::multimap<uint64_t, uint64_t> by_size_;  // free ranges: length -> offset
};

}  // namespace kvc::store

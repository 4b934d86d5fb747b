// Memory that an engine can hand to same-host peers as a file descriptor:
// each allocation is its own sealed memfd (no grow/shrink, so a peer holding the
// fd cannot truncate it under us), mapped MAP_SHARED here. Huge pages are used
// when the kernel has them reserved (MFD_HUGETLB), else normal pages.
// Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>

#include "kvc/common/status.h"

namespace kvc::transfer::internal {

class SharedMemoryPool {
 public:
  SharedMemoryPool() = default;
  ~SharedMemoryPool();  // unmaps and closes everything still allocated
  SharedMemoryPool(const SharedMemoryPool&) = delete;
  SharedMemoryPool& operator=(const SharedMemoryPool&) = delete;

  // A new zero-filled allocation of at least `length` bytes (page-rounded).
  // INVALID_ARGUMENT for 0 or absurd sizes; RESOURCE_EXHAUSTED when the kernel refuses.
  [[nodiscard]] StatusOr<void*> Allocate(uint64_t length);
  // Unmaps and closes the allocation starting at `addr`. NOT_FOUND otherwise.
  [[nodiscard]] Status Free(void* addr);

  struct Exportable {
    int fd = -1;             // the memfd; owned by the pool (dup it to keep it)
    uint64_t map_bytes = 0;  // bytes to map (the whole file)
  };
  // The memfd backing exactly [address, address+length) when that range is one
  // whole allocation (as asked for, or page-rounded). -1 fd otherwise: exporting
  // a sub-range would hand out more than the range.
  Exportable FindExact(uint64_t address, uint64_t length) const;
  // The allocation [start, start+mapped) starting at `addr`, or {0, 0}.
  std::pair<uint64_t, uint64_t> Find(uint64_t addr) const;

 private:
  struct Allocation {
    int fd = -1;
    uint64_t requested = 0;
    uint64_t mapped = 0;
  };
  mutable std::mutex mu_;
  std::map<uint64_t, Allocation> allocations_;  // guarded by mu_; key = address
};

}  // namespace kvc::transfer::internal

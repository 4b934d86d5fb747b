// The registered memory of one engine: non-overlapping [address, address+length)
// regions, each with a location and a remote-accessible flag, plus a count of
// accesses in flight so that unregistering waits for them. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "kvc/common/status.h"
#include "kvc/transfer/segment.h"

namespace kvc::transfer::internal {

class RegionTable {
 public:
  // INVALID_ARGUMENT for an empty range, wrap-around, a bad location, or overlap.
  [[nodiscard]] Status Add(uint64_t address, uint64_t length, const std::string& location,
                           bool remote_accessible);
  // Refuses new pins of the region starting at `address`, waits up to `wait` for
  // pins in flight to end, then removes it. NOT_FOUND when no region starts there;
  // DEADLINE_EXCEEDED (region kept, pins allowed again) when pins outlive `wait`.
  [[nodiscard]] Status Remove(uint64_t address, std::chrono::milliseconds wait);

  // Lets other access paths (the shared-mapping exports) take part in a removal.
  // Called without the table's lock held, in this order: Closing (the region now
  // refuses new pins; refuse your new accesses too), Drain (after the pins have
  // drained; wait for your accesses until `deadline`, an error aborts the
  // removal), Closed (removed, or reopened after a timeout).
  class RemovalHooks {
   public:
    virtual ~RemovalHooks() = default;
    virtual void Closing(uint64_t address) = 0;
    [[nodiscard]] virtual Status Drain(uint64_t address,
                                       std::chrono::steady_clock::time_point deadline) = 0;
    virtual void Closed(uint64_t address, bool removed) = 0;
  };
  // Remove, with `hooks` (may be null) taking part.
  [[nodiscard]] Status Remove(uint64_t address, std::chrono::milliseconds wait,
                              RemovalHooks* hooks);

  // Marks [address, address+length) in use; returns the region's start address
  // (the key for Unpin). OUT_OF_RANGE when the range is not inside one region
  // (or the region is being removed, or `remote` is set and the region is local-only).
  [[nodiscard]] StatusOr<uint64_t> Pin(uint64_t address, uint64_t length, bool remote);
  // Ends a Pin. REQUIRES: `key` came from a successful Pin not yet unpinned.
  void Unpin(uint64_t key);

  // The remote-accessible region (not being removed) holding [address,
  // address+length), as {start, length}. OUT_OF_RANGE when there is none.
  [[nodiscard]] StatusOr<std::pair<uint64_t, uint64_t>> FindRemote(uint64_t address,
                                                                   uint64_t length);
  // True when some registered region overlaps [address, address+length).
  bool Overlaps(uint64_t address, uint64_t length) const;

  // The remote-accessible regions, sorted by address.
  std::vector<RegionDescriptor> RemoteRegions() const;
  // The location of the region holding `address`, or "" when none.
  std::string LocationOf(uint64_t address) const;

 private:
  struct Region {
    uint64_t length = 0;
    std::string location;
    bool remote_accessible = false;
    bool closing = false;
    uint64_t pins = 0;
  };
  // The region containing [address, address+length), or end().
  std::map<uint64_t, Region>::iterator Find(uint64_t address, uint64_t length);

  mutable std::mutex mu_;
  std::condition_variable unpinned_;
  std::map<uint64_t, Region> regions_;  // guarded by mu_; key = start address
};

}  // namespace kvc::transfer::internal

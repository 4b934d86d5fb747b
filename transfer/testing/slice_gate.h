// Test helper: a FaultInjector that holds slices until Open(), so tests can keep
// entries in flight deterministically. Slices of entries below `first_held_entry`
// pass straight through. Thread-safe; header-only, for tests only.
#pragma once

#include <condition_variable>
#include <mutex>

#include "kvc/transfer/fault_injector.h"

namespace kvc::transfer::test_util {

class SliceGate : public FaultInjector {
 public:
  explicit SliceGate(uint64_t first_held_entry = 0) : first_held_entry_(first_held_entry) {}

  FaultDecision OnSlice(const SliceInfo& s) override {
    if (s.entry_index < first_held_entry_) return {};
    std::unique_lock lock(mu_);
    held_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
    return {};
  }
  // Blocks until at least one slice is being held.
  void WaitHeld() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return held_; });
  }
  // Releases every held slice and lets all later ones through.
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  const uint64_t first_held_entry_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool held_ = false, open_ = false;
};

}  // namespace kvc::transfer::test_util

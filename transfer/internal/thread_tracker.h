// Counts detached threads so their owner can wait for every one to finish
// before it is destroyed. Thread-safe.
#pragma once

#include <condition_variable>
#include <mutex>

namespace kvc::transfer::internal {

class ThreadTracker {
 public:
  void Enter() {
    std::lock_guard lock(mu_);
    ++live_;
  }
  // The last thing a tracked thread does; it must not touch its owner afterwards.
  void Exit() {
    std::lock_guard lock(mu_);
    if (--live_ == 0) done_.notify_all();  // under the lock: the waiter cannot vanish first
  }
  void WaitAll() {
    std::unique_lock lock(mu_);
    done_.wait(lock, [&] { return live_ == 0; });
  }

 private:
  std::mutex mu_;
  std::condition_variable done_;
  int live_ = 0;  // guarded by mu_
};

}  // namespace kvc::transfer::internal

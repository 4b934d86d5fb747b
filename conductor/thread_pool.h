// A fixed pool of threads running posted tasks in FIFO order (and delayed ones when
// due): the conductor's bounded pool for the blocking steps of a request (tokenize,
// MatchPrefix, place). Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

namespace kvc::conductor {

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();  // runs what is queued (not delayed tasks still waiting), then joins
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Queues `task`; false (task dropped) once the pool is stopping.
  bool Post(std::function<void()> task);
  // Queues `task` to run once `delay` has passed; false once stopping.
  bool PostAfter(std::chrono::milliseconds delay, std::function<void()> task);
  // Tasks queued and not started yet.
  size_t Queued() const;

 private:
  void Loop();

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> tasks_;  // guarded by mu_
  std::multimap<std::chrono::steady_clock::time_point, std::function<void()>>
      delayed_;            // guarded by mu_
  bool stopping_ = false;  // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace kvc::conductor

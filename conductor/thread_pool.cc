#include "conductor/thread_pool.h"

namespace kvc::conductor {

ThreadPool::ThreadPool(int threads) {
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) t.join();
}

bool ThreadPool::Post(std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    tasks_.push_back(std::move(task));
  }
  cv_.notify_one();
  return true;
}

bool ThreadPool::PostAfter(std::chrono::milliseconds delay, std::function<void()> task) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return false;
    delayed_.emplace(std::chrono::steady_clock::now() + delay, std::move(task));
  }
  cv_.notify_all();
  return true;
}

size_t ThreadPool::Queued() const {
  std::lock_guard lock(mu_);
  return tasks_.size();
}

void ThreadPool::Loop() {
  while (true) {
    std::function<void()> task;
    {
      std::unique_lock lock(mu_);
      while (true) {
        const auto now = std::chrono::steady_clock::now();
        while (!delayed_.empty() && delayed_.begin()->first <= now) {
          tasks_.push_back(std::move(delayed_.begin()->second));
          delayed_.erase(delayed_.begin());
        }
        if (!tasks_.empty() || stopping_) break;
        if (delayed_.empty()) {
          cv_.wait(lock);
        } else {
          // A copy: another thread may erase the node while this one waits unlocked.
          const auto due = delayed_.begin()->first;
          cv_.wait_until(lock, due);
        }
      }
      if (tasks_.empty()) return;  // stopping
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

}  // namespace kvc::conductor

// The injected clock: scheduling logic, leases and timeouts read time only through
// this interface so tests and the simulator can run on virtual time.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>

namespace kvc {

class Clock {
 public:
  using Duration = std::chrono::nanoseconds;
  using TimePoint = std::chrono::time_point<std::chrono::steady_clock, Duration>;

  virtual ~Clock() = default;
  // Monotonic time, for durations and deadlines. Never goes backwards.
  virtual TimePoint Now() const = 0;
  // Wall-clock time in Unix milliseconds, for timestamps that leave the process.
  virtual int64_t UnixMillis() const = 0;

  // The process-wide real clock. Thread-safe; never null.
  static Clock& Real();
};

// A clock that only moves when told to. Thread-safe.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(int64_t start_unix_ms = 1'700'000'000'000) : unix_ms_(start_unix_ms) {}
  TimePoint Now() const override;
  int64_t UnixMillis() const override;
  // Moves both views of time forward. REQUIRES: d >= 0.
  void Advance(Duration d);

 private:
  mutable std::mutex mu_;
  Duration since_start_{0};  // guarded by mu_
  int64_t unix_ms_;          // guarded by mu_
};

// Seconds as a double, the unit of every latency metric.
inline double ToSeconds(Clock::Duration d) { return std::chrono::duration<double>(d).count(); }

}  // namespace kvc

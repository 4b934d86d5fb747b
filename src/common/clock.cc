#include "kvc/common/clock.h"

#include <cassert>

namespace kvc {
namespace {

class RealClock final : public Clock {
 public:
  TimePoint Now() const override {
    return std::chrono::time_point_cast<Duration>(std::chrono::steady_clock::now());
  }
  int64_t UnixMillis() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

}  // namespace

Clock& Clock::Real() {
  static RealClock clock;
  return clock;
}

Clock::TimePoint FakeClock::Now() const {
  std::lock_guard lock(mu_);
  return TimePoint(since_start_);
}

int64_t FakeClock::UnixMillis() const {
  std::lock_guard lock(mu_);
  return unix_ms_ + std::chrono::duration_cast<std::chrono::milliseconds>(since_start_).count();
}

void FakeClock::Advance(Duration d) {
  assert(d.count() >= 0);
  std::lock_guard lock(mu_);
  since_start_ += d;
}

}  // namespace kvc

#include "kvc/common/log_rate_limiter.h"

namespace kvc {

bool LogRateLimiter::Allow(uint64_t* suppressed) {
  const Clock::TimePoint now = clock_.Now();
  std::lock_guard lock(mu_);
  if (any_ && now - last_ < interval_) {
    ++suppressed_;
    return false;
  }
  any_ = true;
  last_ = now;
  *suppressed = suppressed_;
  suppressed_ = 0;
  return true;
}

}  // namespace kvc

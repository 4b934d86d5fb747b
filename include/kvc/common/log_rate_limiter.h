// Rate limiting for log lines an outsider can trigger at will (refused calls,
// malformed requests): at most one line per interval, and the next line says how
// many were left out meanwhile, so a flood cannot fill the disk or drown the log.
// Thread-safe.
#pragma once

#include <cstdint>
#include <mutex>

#include "kvc/common/clock.h"

namespace kvc {

class LogRateLimiter {
 public:
  // REQUIRES: `clock` outlives this object; interval >= 0.
  LogRateLimiter(const Clock& clock, Clock::Duration interval)
      : clock_(clock), interval_(interval) {}

  // True when a line may be written now (the first call, and the first after
  // each interval); then *suppressed is the number of calls refused since the
  // last allowed one. False when the caller must stay silent.
  bool Allow(uint64_t* suppressed);

 private:
  const Clock& clock_;
  const Clock::Duration interval_;
  std::mutex mu_;
  bool any_ = false;         // guarded by mu_
  Clock::TimePoint last_;    // guarded by mu_: time of the last allowed line
  uint64_t suppressed_ = 0;  // guarded by mu_
};

}  // namespace kvc

#include "store/master/leadership.h"

#include "absl/strings/str_cat.h"
#include "kvc/common/reason.h"

namespace kvc::store {

Leadership::Leadership(const Clock& clock, Clock::Duration ttl, Clock::Duration margin)
    : clock_(clock), ttl_(ttl), margin_(margin) {}

void Leadership::LeaseRefreshed(Clock::TimePoint sent) {
  const int64_t until = (sent + ttl_ - margin_).time_since_epoch().count();
  int64_t seen = valid_until_ns_.load();
  while (seen < until && !valid_until_ns_.compare_exchange_weak(seen, until)) {
  }
}

void Leadership::SetLeading(bool leading) { leading_.store(leading); }

Status Leadership::Check() const {
  if (!leading_.load()) {
    return WithReason(
        absl::UnavailableError("this kvc-master is a standby; ask etcd for the leader"),
        Reason::kNotLeader);
  }
  const int64_t now = clock_.Now().time_since_epoch().count();
  if (now >= valid_until_ns_.load()) {
    return WithReason(absl::UnavailableError(
                          "this kvc-master cannot confirm its etcd leader lease (keep-alives "
                          "failing); it serves nothing until it does or a successor is elected"),
                      Reason::kNotLeader);
  }
  return Status();
}

}  // namespace kvc::store

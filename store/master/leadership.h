// Leadership: what a kvc-master in etcd mode knows about its own role, read by
// every StoreMaster call. A master acts as the leader only while it is sure its
// etcd lease still runs: the lease was last granted or kept alive by a request
// sent at S, so etcd cannot expire it before S + TTL; past S + TTL − margin this
// master answers NOT_LEADER even before its election thread notices a failed
// keep-alive. So nothing a deposed leader allows (a PutStart, a node task)
// happens after a successor can have been elected, which bounds the successor's
// take-over grace (MasterCore::FenceAllocations). Thread-safe.
#pragma once

#include <atomic>

#include "kvc/common/clock.h"
#include "kvc/common/status.h"

namespace kvc::store {

class Leadership {
 public:
  // `clock` is borrowed. `ttl`: the etcd lease TTL. `margin`: how long before the
  // lease's earliest possible expiry this master stops acting as leader.
  Leadership(const Clock& clock, Clock::Duration ttl, Clock::Duration margin);

  // The lease was granted or kept alive by a request sent at `sent` (read the
  // clock before sending it).
  void LeaseRefreshed(Clock::TimePoint sent);
  // Won (true) or lost/gave up (false) the election.
  void SetLeading(bool leading);
  bool leading() const { return leading_.load(); }
  // OK while leading with a lease known to run; UNAVAILABLE "NOT_LEADER" otherwise.
  [[nodiscard]] Status Check() const;

 private:
  const Clock& clock_;
  const Clock::Duration ttl_;
  const Clock::Duration margin_;
  std::atomic<bool> leading_{false};
  std::atomic<int64_t> valid_until_ns_{0};  // Clock time since epoch; 0 = never refreshed
};

}  // namespace kvc::store

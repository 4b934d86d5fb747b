// A fake RDMA fabric at the verbs seam (internal/verbs_device.h), for unit tests
// only: devices opened from it in one process can reach each other's QPs.
// RDMA READ / WRITE are done with memcpy at post time, after the checks a NIC
// makes: the QP must be connected to a live QP, the rkey must name a
// remote-accessible registration on the peer's device holding the whole range
// (else a remote-access error, nothing touched), the lkey a local registration
// holding the local range. As on a real RC QP, an error completion moves the QP
// to the error state and later work completes flushed.
//
// Faults by NIC name (they hit every device opened under that name):
// SetBroken → work completes "retry exceeded" (a dead link or peer);
// SetSilent → work gets no completion at all until its QP is failed (a hung
// peer; the context's deadline must catch it); SetRegistrationFails → memory
// registration is refused. Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "transfer/internal/verbs_device.h"

namespace kvc::transfer::testing {

class FakeVerbsDevice;
class FakeVerbsQp;

class FakeVerbsFabric final : public internal::VerbsProvider {
 public:
  // Every Open(name) for a name in `nics` gives a new device (as if on another host).
  explicit FakeVerbsFabric(std::vector<std::string> nics) : nics_(std::move(nics)) {}
  ~FakeVerbsFabric() override = default;

  StatusOr<std::vector<std::string>> List() override;
  StatusOr<std::unique_ptr<internal::VerbsDevice>> Open(const std::string& name) override;

  // Completion queue depth of devices opened afterwards (default 65536).
  void SetCompletionQueueDepth(uint32_t depth) { cq_depth_ = depth; }
  void SetBroken(const std::string& nic, bool broken);
  void SetSilent(const std::string& nic, bool silent);
  // Memory registrations on devices named `nic` fail UNAVAILABLE (e.g. no
  // locked-memory allowance: RLIMIT_MEMLOCK).
  void SetRegistrationFails(const std::string& nic, bool fails);
  // Work requests posted on QPs of devices named `nic` that completed OK.
  uint64_t completed(const std::string& nic) const;
  // Distinct QPs that completed work OK.
  size_t busy_qps() const;
  // QPs alive on every device of the fabric.
  size_t live_qps() const;

 private:
  friend class FakeVerbsDevice;
  friend class FakeVerbsQp;
  const std::vector<std::string> nics_;
  mutable std::mutex mu_;
  std::map<uint32_t, FakeVerbsQp*> qps_;       // guarded by mu_; qpn → live QP
  std::set<std::string> broken_;               // guarded by mu_
  std::set<std::string> silent_;               // guarded by mu_
  std::set<std::string> unregistrable_;        // guarded by mu_
  std::map<std::string, uint64_t> completed_;  // guarded by mu_
  std::set<uint32_t> busy_qps_;                // guarded by mu_
  uint32_t next_qpn_ = 1;                      // guarded by mu_
  uint32_t next_key_ = 1;                      // guarded by mu_
  std::atomic<uint32_t> cq_depth_{1 << 16};
};

}  // namespace kvc::transfer::testing

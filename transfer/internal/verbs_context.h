// One verbs context per engine: every RDMA device (NIC) the provider lists,
// opened once, each with a completion-polling thread. It registers the engine's
// memory on every NIC (remote-accessible regions with remote read/write, the
// others local-only), serves the target half of the QP handshake (a QP per
// request, kept until the TCP connection that asked for it closes), and tracks
// every work request the initiator posts until its completion or its deadline.
//
// Deadlines: a work request with no completion `timeout` after it was posted
// has its QP moved to the error state (the NIC stops and flushes the QP's work);
// the owner then gets UNAVAILABLE "no completion within …". One that still has
// no completion `timeout` later is taken off the books and reported the same
// way. So every slice is reported within 2 × timeout (+ one poll tick).
// Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "kvc/common/status.h"
#include "transfer/internal/channel.h"
#include "transfer/internal/verbs_device.h"

namespace kvc::transfer::internal {

// A QP and the NIC it lives on. Shared by its path and by its outstanding work,
// so a QP replaced after an error lives until its last work request is reported.
struct VerbsQp {
  std::unique_ptr<VerbsQueuePair> qp;
  size_t nic = 0;
};

// Receives the result of each work request it posted, exactly once, on a
// poller thread (or on the thread calling VerbsContext::Drain). `timed_out`:
// the work missed its deadline (the peer did not answer).
class VerbsWorkOwner {
 public:
  virtual ~VerbsWorkOwner() = default;
  virtual void OnWorkDone(Slice* slice, size_t path, const std::shared_ptr<VerbsQp>& qp,
                          Status status, bool timed_out) = 0;
};

class VerbsContext {
 public:
  struct Options {
    std::chrono::milliseconds timeout{3000};  // per work request, see above
    uint32_t max_outstanding = 128;           // work requests per QP
    size_t max_target_qps = 4096;             // target-side QPs, all connections together
  };
  // Opens every device `provider` lists. UNAVAILABLE with the reason when there
  // is none or none can be opened (devices that fail to open are logged and skipped).
  [[nodiscard]] static StatusOr<std::shared_ptr<VerbsContext>> Create(VerbsProvider& provider,
                                                                      Options options);
  ~VerbsContext();  // stops the pollers (each wakes within a tick), destroys target QPs
  VerbsContext(const VerbsContext&) = delete;
  VerbsContext& operator=(const VerbsContext&) = delete;

  const std::vector<std::string>& nics() const { return names_; }

  // The start-up check `backend: auto` needs before it may choose verbs: on
  // every NIC (already opened, so its port is active and its GID readable) a
  // test memory registration with remote access (then released) and a QP
  // creation. OK, or the first failure naming the NIC. Registers nothing lasting.
  [[nodiscard]] Status Preflight();
  const Options& options() const { return options_; }

  // ---- memory ----
  // Registers [address, address+length) on every NIC (all or nothing).
  [[nodiscard]] Status Register(uint64_t address, uint64_t length, const std::string& location,
                                bool remote);
  // Deregisters the region starting at `address` on every NIC; from then on the
  // NICs refuse remote accesses with its rkeys.
  void Deregister(uint64_t address);
  // rkey per NIC of the remote-accessible region starting at `address` (empty when none).
  std::map<std::string, uint32_t> RemoteKeys(uint64_t address) const;
  // The lkey on `nic` and the location of the registered region holding
  // [address, address+length). FAILED_PRECONDITION when none does.
  [[nodiscard]] StatusOr<std::pair<uint32_t, std::string>> LocalKey(size_t nic, uint64_t address,
                                                                    uint64_t length) const;

  // ---- target side ----
  // Serves one handshake request (verbs_wire.h) that arrived on the
  // authenticated TCP connection `connection`: creates a QP on the named NIC,
  // connects it to the initiator's QP and returns the encoded reply.
  [[nodiscard]] StatusOr<std::string> Accept(uint64_t connection, const std::string& request);
  // The TCP connection closed: destroys the QPs it asked for.
  void Disconnect(uint64_t connection);
  // Target-side QPs alive (tests).
  size_t target_qps() const;

  // ---- initiator side ----
  [[nodiscard]] StatusOr<std::shared_ptr<VerbsQp>> CreateQueuePair(size_t nic);
  // Posts `work` (its id is assigned here) on `qp` and tracks it: `owner` gets
  // OnWorkDone(slice, path, qp, status, timed_out) exactly once. On error nothing
  // is tracked and the owner gets no call; RESOURCE_EXHAUSTED when the NIC already
  // has a completion queue's worth of work outstanding.
  [[nodiscard]] Status Post(const std::shared_ptr<VerbsQp>& qp, VerbsWork work,
                            const std::shared_ptr<VerbsWorkOwner>& owner, Slice* slice,
                            size_t path);
  // Waits until `owner` has no tracked work or `deadline` passes; then reports
  // whatever is left with `why` (on this thread). After it returns the context
  // holds no reference to `owner`.
  void Drain(const VerbsWorkOwner* owner, std::chrono::steady_clock::time_point deadline,
             const Status& why);

 private:
  using Clock = std::chrono::steady_clock;
  struct Work {
    std::shared_ptr<VerbsWorkOwner> owner;
    std::shared_ptr<VerbsQp> qp;
    Slice* slice = nullptr;
    size_t path = 0;
    Clock::time_point deadline;
    bool stalled = false;  // deadline passed once: its QP was failed
  };
  struct Nic {
    std::unique_ptr<VerbsDevice> device;
    std::thread poller;
    std::mutex mu;
    std::unordered_map<uint64_t, Work> work;  // guarded by mu; id → outstanding work
    // Work taken out of `work` whose report is running on the poller, per owner
    // (guarded by mu): Drain waits for these too, so no poller holds a reference
    // to an owner (and through it to this context) once Drain returns.
    std::map<const VerbsWorkOwner*, int> reporting;
  };
  struct Region {
    uint64_t length = 0;
    std::string location;
    bool remote = false;
    std::vector<VerbsKeys> keys;  // per NIC
  };

  explicit VerbsContext(Options options) : options_(options) {}
  void PollMain(size_t nic);
  void Deliver(Nic& nic, const VerbsCompletion& completion);
  // Runs the owner's OnWorkDone for `work` (already taken out of nic.work and
  // counted in nic.reporting), then releases it.
  void Report(Nic& nic, Work work, Status status, bool timed_out);
  void CheckDeadlines(Nic& nic);
  Status Expired(const Work& work) const;

  const Options options_;
  std::vector<std::unique_ptr<Nic>> nics_;  // constant after Create
  std::vector<std::string> names_;          // constant after Create
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> next_id_{1};
  std::condition_variable drained_;  // with drain_mu_
  std::mutex drain_mu_;

  mutable std::mutex mu_;
  std::map<uint64_t, Region> regions_;  // guarded by mu_; key = start address
  std::map<uint64_t, std::vector<std::shared_ptr<VerbsQp>>> target_qps_;  // guarded by mu_
  size_t target_qp_count_ = 0;                                            // guarded by mu_
};

}  // namespace kvc::transfer::internal

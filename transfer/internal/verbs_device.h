// The seam between the verbs backend and libibverbs: a VerbsProvider lists and
// opens RDMA devices; a VerbsDevice is one NIC (device context, protection
// domain, one completion queue) that registers memory and creates RC queue
// pairs; a VerbsQueuePair is one RC QP that connects to a remote QP and posts
// one-sided RDMA READ / WRITE work requests. Everything above this seam (the
// handshake, path and NIC choice, completion bookkeeping, failure handling) is
// plain C++ and is unit-tested with a fake at this seam
// (transfer/testing/verbs_fake.h); the libibverbs implementation
// (verbs_ibv.cc) is compiled when KVC_HAVE_VERBS is set.
//
// Thread safety: Register/Deregister/CreateQueuePair are thread-safe; Poll is
// called by one thread per device (the context's poller); a queue pair's Post
// and Fail may be called from any thread, but not concurrently with Connect.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kvc/common/status.h"

namespace kvc::transfer::internal {

// What one side of an RC connection needs to know about the other side's QP.
struct VerbsAddress {
  uint32_t qpn = 0;               // QP number (24 bits)
  uint32_t psn = 0;               // initial packet sequence number (24 bits)
  uint16_t lid = 0;               // port LID (InfiniBand); 0 on RoCE
  uint8_t mtu = 0;                // enum ibv_mtu: 1 = 256 … 5 = 4096 bytes
  uint8_t port = 0;               // port number on the device (informational)
  std::array<uint8_t, 16> gid{};  // port GID (RoCE routing; all zero = use the LID)
  bool operator==(const VerbsAddress&) const = default;
};

// Keys of one memory registration on one device.
struct VerbsKeys {
  uint32_t lkey = 0;  // for local scatter/gather entries
  uint32_t rkey = 0;  // for remote peers (0 when registered local-only)
};

// One RDMA READ (remote → local) or WRITE (local → remote), always signaled.
struct VerbsWork {
  uint64_t id = 0;  // echoed in the completion (wr_id)
  bool write = false;
  uint64_t local = 0;
  uint32_t length = 0;
  uint32_t lkey = 0;
  uint64_t remote = 0;
  uint32_t rkey = 0;
};

enum class VerbsCompletionCode {
  kOk,
  kFlushed,        // the QP went to the error state before this work ran
  kRetryExceeded,  // transport retries exhausted: the peer or the link is gone
  kRemoteAccess,   // the remote NIC refused the rkey or the range (nothing touched)
  kOther,          // anything else (local protection, length, ...)
};

struct VerbsCompletion {
  uint64_t id = 0;
  VerbsCompletionCode code = VerbsCompletionCode::kOk;
  const char* detail = "";  // static text (ibv_wc_status_str), for error messages
};

// The status a slice gets for a completion: OK; UNAVAILABLE (retry on another
// path) for flushed / retry-exceeded / other; OUT_OF_RANGE (final) when the remote
// NIC refused the access.
Status CompletionStatus(const VerbsCompletion& completion, const std::string& path);

class VerbsQueuePair {
 public:
  virtual ~VerbsQueuePair() = default;  // destroys the QP; its outstanding work is dropped
  // This QP's address, to send to the peer.
  virtual VerbsAddress local() const = 0;
  // Moves the QP to ready-to-send connected to `remote` (RESET→INIT→RTR→RTS).
  [[nodiscard]] virtual Status Connect(const VerbsAddress& remote) = 0;
  // Posts one work request. UNAVAILABLE when the QP refuses it (then no
  // completion will come for it).
  [[nodiscard]] virtual Status Post(const VerbsWork& work) = 0;
  // Moves the QP to the error state: every outstanding work request completes
  // as kFlushed and the NIC stops touching the buffers.
  virtual void Fail() = 0;
};

class VerbsDevice {
 public:
  virtual ~VerbsDevice() = default;
  virtual const std::string& name() const = 0;
  // Registers [address, address+length): local write always, remote read and
  // write when `remote`. UNAVAILABLE with the reason when the NIC refuses.
  [[nodiscard]] virtual StatusOr<VerbsKeys> Register(uint64_t address, uint64_t length,
                                                     bool remote) = 0;
  // Releases the registration starting at `address` (no-op when none).
  virtual void Deregister(uint64_t address) = 0;
  // A new RC QP on this device's completion queue, room for `max_outstanding`
  // work requests.
  [[nodiscard]] virtual StatusOr<std::unique_ptr<VerbsQueuePair>> CreateQueuePair(
      uint32_t max_outstanding) = 0;
  // How many completions the device's completion queue holds: the context never
  // has more work outstanding on this device (an overrun CQ would break every QP).
  virtual uint32_t completion_queue_depth() const = 0;
  // Waits at most `timeout` for completions of any QP of this device and stores
  // up to `max` of them; returns how many (0 on timeout).
  virtual int Poll(VerbsCompletion* out, int max, std::chrono::milliseconds timeout) = 0;
};

class VerbsProvider {
 public:
  virtual ~VerbsProvider() = default;
  // Names of the RDMA devices present; UNAVAILABLE with the reason when none.
  [[nodiscard]] virtual StatusOr<std::vector<std::string>> List() = 0;
  [[nodiscard]] virtual StatusOr<std::unique_ptr<VerbsDevice>> Open(const std::string& name) = 0;
};

// libibverbs (port KVC_VERBS_PORT, default 1; GID index KVC_VERBS_GID_INDEX,
// default 0). Without KVC_HAVE_VERBS, List() says the build has no libibverbs.
std::unique_ptr<VerbsProvider> MakeIbvProvider();

// The provider engines use: libibverbs, unless a test installed a fake.
VerbsProvider& EngineVerbsProvider();
// Tests only: engines created afterwards use `provider` (nullptr = libibverbs
// again). The provider must outlive those engines.
void SetVerbsProviderForTesting(VerbsProvider* provider);

}  // namespace kvc::transfer::internal

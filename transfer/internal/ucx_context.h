// One UCX (ucp) context + worker per engine, shared by its UCX target side (memory
// registration, packed rkeys, worker address) and its UCX channels (endpoints,
// put/get). A progress thread drives the worker, sleeping on its event fd when
// idle. Thread-safe: the worker runs in UCS_THREAD_MODE_MULTI.
#pragma once

#include <ucp/api/ucp.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "kvc/common/status.h"

namespace kvc::transfer::internal {

class UcxContext {
 public:
  // UNAVAILABLE with UCX's reason when the context or worker cannot be created.
  [[nodiscard]] static StatusOr<std::shared_ptr<UcxContext>> Create();
  ~UcxContext();
  UcxContext(const UcxContext&) = delete;
  UcxContext& operator=(const UcxContext&) = delete;

  ucp_context_h context() const { return context_; }
  ucp_worker_h worker() const { return worker_; }
  // Hex of this worker's packed address (goes into the segment descriptor).
  const std::string& worker_address_hex() const { return address_hex_; }

  // Registers [addr, addr+len) for remote access; returns the packed rkey in hex.
  [[nodiscard]] StatusOr<std::string> Map(uint64_t addr, uint64_t length);
  // Releases the registration of the region starting at `addr` (no-op when none).
  void Unmap(uint64_t addr);
  // The rkey hex of the region starting at `addr`, or "".
  std::string RkeyOf(uint64_t addr) const;

 private:
  UcxContext() = default;
  void ProgressMain();

  ucp_context_h context_ = nullptr;
  ucp_worker_h worker_ = nullptr;
  int event_fd_ = -1;
  std::string address_hex_;
  std::atomic<bool> stopping_{false};
  std::thread progress_;
  mutable std::mutex mu_;
  std::map<uint64_t, std::pair<ucp_mem_h, std::string>> mapped_;  // guarded by mu_
};

std::string ToHex(const void* data, size_t length);
// Empty string on malformed input.
std::string FromHex(const std::string& hex);

}  // namespace kvc::transfer::internal

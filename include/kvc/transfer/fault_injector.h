// Fault-injection seam for tests: the engine asks the injector about every slice
// just before handing it to a backend, and obeys. Production engines have none.
//
// Implementations must be thread-safe: OnSlice is called from many threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace kvc::transfer {

enum class FaultAction {
  kPass,            // send the slice normally
  kDelay,           // wait `delay` in the submitting thread, then send normally
  kFail,            // fail this attempt with UNAVAILABLE "injected fault" (retry rules apply)
  kDropConnection,  // TCP: send half the slice, then drop the connection under it
};

struct SliceInfo {
  std::string peer;          // remote segment name
  uint64_t entry_index = 0;  // index of the entry in its batch
  uint64_t slice_index = 0;  // index of the slice in its entry
  uint64_t offset = 0;       // byte offset of the slice inside its entry
  uint64_t length = 0;       // bytes in the slice
  int attempt = 0;           // 0 for the first try, 1.. for retries
};

struct FaultDecision {
  FaultAction action = FaultAction::kPass;
  std::chrono::milliseconds delay{0};  // for kDelay
};

class FaultInjector {
 public:
  virtual ~FaultInjector() = default;
  virtual FaultDecision OnSlice(const SliceInfo& slice) = 0;
};

}  // namespace kvc::transfer

// The seam between the engine and its backends. The engine cuts entries into
// Slices and hands each to the PeerChannel of the target segment; the channel
// moves the bytes and reports each slice exactly once to its SliceSink.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kvc/common/status.h"
#include "kvc/transfer/segment.h"
#include "kvc/transfer/transfer_engine.h"

namespace kvc::transfer::internal {

struct Slice;

class SliceSink {
 public:
  virtual ~SliceSink() = default;
  // Called exactly once per PeerChannel::Submit, from any thread. UNAVAILABLE
  // means "this path failed, another attempt may succeed"; other codes are final.
  virtual void OnSliceDone(Slice* slice, Status status) = 0;
};

struct Slice {
  TransferOp op = TransferOp::kWrite;
  char* local = nullptr;         // local bytes (source for writes, destination for reads)
  uint64_t remote = 0;           // remote address
  uint64_t length = 0;           // bytes
  uint64_t index = 0;            // index inside its entry
  int attempt = 0;               // 0 for the first try
  bool drop_connection = false;  // fault injection: break the path mid-slice
  // TCP: ids of abandoned connections that carried an earlier attempt of this
  // write; the target is told to finish them (FENCE) before this attempt, so a
  // late first attempt can never land after the retry.
  std::vector<uint64_t> fences;
  SliceSink* sink = nullptr;
  void* owner = nullptr;  // the engine's entry
};

// One remote segment as seen through one backend. Thread-safe.
class PeerChannel {
 public:
  virtual ~PeerChannel() = default;  // fails what is queued (CANCELLED), joins threads
  // Starts moving `slice`; never blocks on the network. The slice must stay
  // valid until its OnSliceDone.
  virtual void Submit(Slice* slice) = 0;
  virtual std::string backend() const = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // A channel to `remote`; UNAVAILABLE (with the reason) when this backend cannot
  // reach it, e.g. another host for shm, or no device for verbs.
  [[nodiscard]] virtual StatusOr<std::unique_ptr<PeerChannel>> Open(
      const SegmentDescriptor& remote) = 0;
};

}  // namespace kvc::transfer::internal

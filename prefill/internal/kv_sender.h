// Writes one request's prompt KV from the prefill engine's cache into the decode
// node's reserved blocks (PrefillRequest.decode_kv), through one transfer batch.
//
// Per-layer mode (KV in host memory): blocks wholly inside the cached prefix go
// first, whole; every other block's layer l is written from the LayerReadyHook once
// all of the block's tokens have layer l (the trailing partial block when the
// prompt's last token has it), so no remote byte range ever has two writes in
// flight. Whole-block mode (KV in device memory): after prefill, each block is
// staged to host by the caller and written whole. Used on the engine thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include "kvc/common/status.h"
#include "kvc/engine/kv_cache.h"
#include "kvc/transfer/transfer_engine.h"
#include "kvc/v1/prefill.pb.h"

namespace kvc::prefill::internal {

// Opens the decode segment of every descriptor (one OpenSegment per distinct name).
// UNAVAILABLE with reason DECODE_UNREACHABLE when a segment cannot be opened.
[[nodiscard]] StatusOr<std::vector<transfer::SegmentHandle>> OpenDecodeSegments(
    transfer::TransferEngine& transfer, const v1::PrefillRequest& request);

class KvSender {
 public:
  // `blocks` are the request's engine blocks (one per descriptor); tokens before
  // `first_computed` are already in the cache and not recomputed. All borrowed.
  KvSender(transfer::TransferEngine& transfer, engine::KvCache& cache,
           const std::vector<engine::BlockId>& blocks, const v1::PrefillRequest& request,
           const std::vector<transfer::SegmentHandle>& handles, int64_t first_computed);
  KvSender(const KvSender&) = delete;
  KvSender& operator=(const KvSender&) = delete;
  // Frees the batch when no entry is pending any more.
  ~KvSender();

  // Allocates the batch and writes the blocks wholly inside the cached prefix.
  [[nodiscard]] Status Begin();
  // LayerReadyHook: layer `layer` of tokens [begin, end) is in the cache.
  void OnLayer(int64_t layer, int64_t begin, int64_t end);
  // Whole-block mode: writes every block not written by Begin().
  [[nodiscard]] Status SendComputedBlocks();
  // Waits for every write (at most `timeout`); UNAVAILABLE with reason
  // DECODE_UNREACHABLE when one failed, was refused or is still pending.
  [[nodiscard]] Status Finish(std::chrono::milliseconds timeout);
  // True while writes of this batch may still be running (after a timed-out Finish):
  // the source blocks must not be reused for another request's writes meanwhile.
  bool pending() const { return batch_ != 0; }
  // The batch id that is still pending (0 if none); the owner frees it later.
  transfer::BatchId TakePendingBatch();

 private:
  void Submit(std::vector<transfer::TransferRequest> requests);
  int64_t BlockEnd(size_t i) const;

  transfer::TransferEngine& transfer_;
  engine::KvCache& cache_;
  const std::vector<engine::BlockId>& blocks_;
  const v1::PrefillRequest& request_;
  const std::vector<transfer::SegmentHandle>& handles_;
  const int64_t first_computed_;
  const int64_t tokens_;
  transfer::BatchId batch_ = 0;
  Status error_;
};

}  // namespace kvc::prefill::internal

#include "prefill/internal/kv_sender.h"

#include <algorithm>
#include <map>

#include "kvc/common/reason.h"

namespace kvc::prefill::internal {
namespace {

Status Unreachable(const Status& cause, const std::string& what) {
  return WithReason(absl::UnavailableError(what + ": " + std::string(cause.message())),
                    Reason::kDecodeUnreachable);
}

}  // namespace

StatusOr<std::vector<transfer::SegmentHandle>> OpenDecodeSegments(
    transfer::TransferEngine& transfer, const v1::PrefillRequest& request) {
  std::map<std::string, transfer::SegmentHandle> opened;
  std::vector<transfer::SegmentHandle> handles;
  for (const auto& d : request.decode_kv()) {
    auto it = opened.find(d.segment_name());
    if (it == opened.end()) {
      auto h = transfer.OpenSegment(d.segment_name());
      if (!h.ok()) return Unreachable(h.status(), "decode segment '" + d.segment_name() + "'");
      it = opened.emplace(d.segment_name(), *h).first;
    }
    handles.push_back(it->second);
  }
  return handles;
}

KvSender::KvSender(transfer::TransferEngine& transfer, engine::KvCache& cache,
                   const std::vector<engine::BlockId>& blocks, const v1::PrefillRequest& request,
                   const std::vector<transfer::SegmentHandle>& handles, int64_t first_computed)
    : transfer_(transfer),
      cache_(cache),
      blocks_(blocks),
      request_(request),
      handles_(handles),
      first_computed_(first_computed),
      tokens_(request.token_ids_size()) {}

KvSender::~KvSender() {
  if (batch_ != 0 && transfer_.FreeBatch(batch_).ok()) batch_ = 0;
}

int64_t KvSender::BlockEnd(size_t i) const {
  return std::min<int64_t>(tokens_, static_cast<int64_t>(i + 1) * cache_.geometry().block_tokens);
}

Status KvSender::Begin() {
  const uint64_t n = static_cast<uint64_t>(request_.decode_kv_size());
  auto batch = transfer_.AllocateBatch(n * static_cast<uint64_t>(cache_.geometry().num_layers + 1));
  if (!batch.ok()) return Unreachable(batch.status(), "allocating the KV write batch");
  batch_ = *batch;
  std::vector<transfer::TransferRequest> whole;
  for (size_t i = 0; i < n && BlockEnd(i) <= first_computed_; ++i) {
    std::span<uint8_t> block = cache_.Block(blocks_[i]);
    whole.push_back({transfer::TransferOp::kWrite, block.data(), handles_[i],
                     request_.decode_kv(static_cast<int>(i)).offset(), block.size()});
  }
  Submit(std::move(whole));
  return error_;
}

void KvSender::OnLayer(int64_t layer, int64_t begin, int64_t end) {
  std::vector<transfer::TransferRequest> writes;
  const uint64_t layer_bytes = cache_.geometry().layer_bytes();
  for (size_t i = 0; i < blocks_.size(); ++i) {
    const int64_t block_end = BlockEnd(i);
    if (block_end <= begin || block_end > end) continue;  // not completed by this chunk
    std::span<uint8_t> bytes = cache_.Layer(blocks_[i], layer);
    writes.push_back({transfer::TransferOp::kWrite, bytes.data(), handles_[i],
                      request_.decode_kv(static_cast<int>(i)).offset() +
                          static_cast<uint64_t>(layer) * layer_bytes,
                      layer_bytes});
  }
  Submit(std::move(writes));
}

Status KvSender::SendComputedBlocks() {
  std::vector<transfer::TransferRequest> whole;
  for (size_t i = 0; i < blocks_.size(); ++i) {
    if (BlockEnd(i) <= first_computed_) continue;  // written by Begin()
    std::span<uint8_t> block = cache_.Block(blocks_[i]);
    whole.push_back({transfer::TransferOp::kWrite, block.data(), handles_[i],
                     request_.decode_kv(static_cast<int>(i)).offset(), block.size()});
  }
  Submit(std::move(whole));
  return error_;
}

void KvSender::Submit(std::vector<transfer::TransferRequest> requests) {
  if (requests.empty() || !error_.ok() || batch_ == 0) return;
  Status s = transfer_.Submit(batch_, requests);
  if (!s.ok()) error_ = Unreachable(s, "writing KV to the decode node");
}

Status KvSender::Finish(std::chrono::milliseconds timeout) {
  if (batch_ == 0) return error_;
  Status waited = transfer_.Wait(batch_, timeout);
  if (transfer_.FreeBatch(batch_).ok()) batch_ = 0;
  if (!error_.ok()) return error_;
  if (!waited.ok()) return Unreachable(waited, "writing KV to the decode node");
  return absl::OkStatus();
}

transfer::BatchId KvSender::TakePendingBatch() {
  const transfer::BatchId b = batch_;
  batch_ = 0;
  return b;
}

}  // namespace kvc::prefill::internal

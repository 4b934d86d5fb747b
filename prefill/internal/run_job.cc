// The engine thread's work for one request: prefix load, chunked prefill with
// layer-wise KV writes to the decode node, first token, block release / pool put.
#include <chrono>

#include "kvc/common/block_hash.h"
#include "kvc/common/reason.h"
#include "kvc/engine/sampler.h"
#include "prefill/internal/kv_sender.h"
#include "prefill/internal/prefix_loader.h"
#include "prefill/internal/request_check.h"
#include "prefill/internal/worker_impl.h"

namespace kvc::prefill::internal {
namespace {

using Steady = std::chrono::steady_clock;

double SecondsSince(Steady::time_point t) {
  return std::chrono::duration<double>(Steady::now() - t).count();
}

Status Cancelled() {
  return WithReason(absl::CancelledError("request cancelled"), Reason::kCancelled);
}

Status NoSpace(const Status& cause) {
  return WithReason(
      absl::ResourceExhaustedError("prefill KV cache: " + std::string(cause.message())),
      Reason::kNoKvSpace);
}

}  // namespace

Status PrefillWorkerImpl::RunJob(Job& job, v1::PrefillResponse* response) {
  const auto start = Steady::now();
  FreePendingBatches();
  if (ShouldStop(job)) return Cancelled();
  const v1::PrefillRequest& req = job.request;
  const std::vector<int32_t> prompt(req.token_ids().begin(), req.token_ids().end());
  const auto n = static_cast<int64_t>(prompt.size());
  const int64_t bt = engine_.cache().geometry().block_tokens;
  MakeRoom((n + bt - 1) / bt);
  engine::Sequence seq;
  auto load = LoadPrefix(engine_, store_, req, options_.node_id, seq);
  if (!load.ok()) return NoSpace(load.status());
  if (Status s = engine_.EnsureBlocks(seq, n); !s.ok()) {
    engine_.Release(seq);
    return NoSpace(s);
  }
  const int64_t cached = load->cached_blocks * bt;
  const bool per_layer = engine_.backend() != "cuda";  // KV in host memory: send as layers finish
  KvSender sender(transfer_, engine_.cache(), seq.blocks, req, job.handles,
                  std::min(cached, n - 1));
  Status status = sender.Begin();
  StatusOr<std::vector<float>> logits = absl::CancelledError();
  const auto compute_start = Steady::now();
  if (status.ok() && !ShouldStop(job)) {
    const int64_t chunk = req.chunk_tokens() > 0 ? req.chunk_tokens() : options_.chunk_tokens;
    engine::LayerReadyHook hook;
    if (per_layer) hook = [&sender](int64_t l, int64_t b, int64_t e) { sender.OnLayer(l, b, e); };
    logits = engine_.Prefill(seq, prompt, cached, chunk, hook);
    status = logits.ok() ? absl::OkStatus() : logits.status();
    if (status.ok() && !per_layer) {
      for (engine::BlockId b : seq.blocks) {
        if (status.ok()) status = engine_.StageBlockToHost(b);
      }
      if (status.ok()) status = sender.SendComputedBlocks();
    }
  }
  const double compute_seconds = SecondsSince(compute_start);
  const auto transfer_start = Steady::now();
  const Status written = sender.Finish(std::chrono::milliseconds(options_.transfer_timeout_ms));
  const double transfer_seconds = SecondsSince(transfer_start);
  if (sender.pending()) {
    pending_batches_.push_back(sender.TakePendingBatch());
    job.writes_pending = true;
  }
  if (status.ok()) status = written;
  if (status.ok() && ShouldStop(job)) status = Cancelled();
  if (!status.ok()) {
    engine_.Release(seq);
    return status;
  }
  engine::Sampler sampler(ToSamplingOptions(req.sampling()));
  response->set_first_token_id(static_cast<uint32_t>(sampler.Sample(*logits)));
  response->set_cached_tokens(static_cast<uint32_t>(cached));
  response->set_computed_tokens(static_cast<uint32_t>(n - cached));
  response->set_fetched_tokens(static_cast<uint32_t>(load->fetched_blocks * bt));
  response->set_transfer_seconds(transfer_seconds);
  RecordSpeed(n - std::min(cached, n - 1), compute_seconds);
  response->set_stored_blocks(ReleaseBlocks(job, seq, load->cached_blocks));
  response->set_prefill_seconds(SecondsSince(start));
  return absl::OkStatus();
}

uint32_t PrefillWorkerImpl::ReleaseBlocks(const Job& job, engine::Sequence& seq,
                                          int64_t cached_blocks) {
  const auto bt = static_cast<uint32_t>(engine_.cache().geometry().block_tokens);
  std::vector<BlockKey> keys;
  std::vector<engine::BlockId> pinned;
  if (publisher_) {
    const std::vector<uint32_t> tokens(job.request.token_ids().begin(),
                                       job.request.token_ids().end());
    const std::vector<BlockKey> all = ChainedBlockKeys(options_.model_id, tokens, bt);
    for (size_t i = static_cast<size_t>(cached_blocks); i < all.size(); ++i) {
      keys.push_back(all[i]);
      pinned.push_back(seq.blocks[i]);
      seq.blocks[i] = -1;
    }
  }
  for (engine::BlockId b : seq.blocks) {
    if (b >= 0) engine_.cache().Free(b);
  }
  seq = engine::Sequence{};
  if (pinned.empty()) return 0;
  const auto count = static_cast<uint32_t>(pinned.size());
  return publisher_->Enqueue(std::move(keys), std::move(pinned)) ? count : 0;
}

void PrefillWorkerImpl::MakeRoom(int64_t blocks) {
  if (publisher_ && engine_.cache().free_blocks() < blocks && publisher_->pinned_blocks() > 0) {
    publisher_->Drain();  // blocks pinned by background puts come back once they are stored
  }
}

void PrefillWorkerImpl::FreePendingBatches() {
  std::erase_if(pending_batches_,
                [this](transfer::BatchId b) { return transfer_.FreeBatch(b).ok(); });
}

void PrefillWorkerImpl::RecordSpeed(int64_t tokens, double seconds) {
  if (tokens <= 0 || seconds <= 0) return;
  const double sample = static_cast<double>(tokens) / seconds;
  std::lock_guard lock(mu_);
  tokens_per_second_ = tokens_per_second_ == 0 ? sample : 0.8 * tokens_per_second_ + 0.2 * sample;
}

}  // namespace kvc::prefill::internal

#include "decode/internal/batch_loop.h"

#include <algorithm>

#include "kvc/common/logging.h"
#include "kvc/common/reason.h"

namespace kvc::decode::internal {

BatchLoop::BatchLoop(engine::Engine& engine, RequestTable& table, const BatchLoopOptions& options)
    : engine_(engine), table_(table), options_(options) {}

void BatchLoop::Start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { Run(); });
}

void BatchLoop::Stop() {
  if (thread_.joinable()) thread_.join();
}

void BatchLoop::Run() {
  while (table_.WaitForWork(!running_.empty(), options_.sweep_interval)) {
    table_.ExpireReservations();
    table_.ReleaseQuarantine();
    AdmitNew();
    for (const RequestPtr& r : table_.DueForKeepAlive(options_.keepalive_interval)) {
      r->sink->KeepAlive();
    }
    RetireCancelled();
    if (!running_.empty()) Step();
  }
  const Status down =
      WithReason(absl::UnavailableError("decode node is shutting down"), Reason::kShuttingDown);
  for (const auto& r : std::vector<RequestPtr>(running_)) FailAndRetire(r, down);
  running_.clear();
}

void BatchLoop::AdmitNew() {
  if (running_.size() >= options_.max_batch) return;
  for (RequestPtr& r : table_.Admit(options_.max_batch - running_.size())) {
    // The prompt's KV arrived in the host arena; a device backend copies it over.
    Status staged;
    const int64_t bt = engine_.cache().geometry().block_tokens;
    const auto prompt_blocks = static_cast<size_t>((r->prompt_tokens + bt - 1) / bt);
    for (size_t i = 0; i < prompt_blocks && i < r->seq.blocks.size() && staged.ok(); ++i) {
      staged = engine_.StageBlockToDevice(r->seq.blocks[i]);
    }
    running_.push_back(r);
    if (!staged.ok()) {
      FailAndRetire(r, WithReason(staged, Reason::kDecodeFailed));
    } else if (r->tokens->finished()) {
      Finish(r);  // the first token already ended it (the conductor normally cancels instead)
    } else if (static_cast<int64_t>(r->seq.tokens.size()) >
               engine_.config().max_position_embeddings) {
      r->tokens->FinishLength();
      Finish(r);
    }
  }
}

void BatchLoop::RetireCancelled() {
  for (const auto& r : std::vector<RequestPtr>(running_)) {
    if (Status why = table_.CancelStatus(*r); !why.ok()) {
      FailAndRetire(r, why);
    } else if (r->sink->Stalled(options_.stream_write_timeout)) {
      FailAndRetire(r,
                    WithReason(absl::DeadlineExceededError("the stream's reader stalled"),
                               Reason::kStreamStalled),
                    /*abort=*/true);
    }
  }
}

void BatchLoop::Step() {
  std::vector<engine::Sequence*> batch;
  std::vector<RequestPtr> members;
  for (const auto& r : std::vector<RequestPtr>(running_)) {
    if (Status grown = table_.Grow(*r); !grown.ok()) {
      FailAndRetire(r, WithReason(grown, Reason::kDecodeFailed));
      continue;
    }
    batch.push_back(&r->seq);
    members.push_back(r);
  }
  if (batch.empty()) return;
  const auto t0 = std::chrono::steady_clock::now();
  auto logits = engine_.DecodeStep(batch);
  if (!logits.ok()) {
    Logger("decode")->error("decode step of {} requests failed: {}", batch.size(),
                            logits.status().ToString());
    for (const auto& r : members)
      FailAndRetire(r, WithReason(logits.status(), Reason::kDecodeFailed));
    return;
  }
  RecordRate(members.size(),
             std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  const int64_t context = engine_.config().max_position_embeddings;
  for (size_t i = 0; i < members.size(); ++i) {
    Request& r = *members[i];
    const int32_t token = r.tokens->Next((*logits)[i]);
    r.seq.tokens.push_back(token);
    if (!r.tokens->finished() && static_cast<int64_t>(r.seq.tokens.size()) > context) {
      r.tokens->FinishLength();  // the next step would not fit the model context
    }
    if (r.tokens->finished()) {
      Finish(members[i], std::span<const int32_t>(&token, 1));
    } else {
      r.sink->Push(token);
    }
  }
}

void BatchLoop::Finish(const RequestPtr& r, std::span<const int32_t> last_tokens) {
  table_.Retire(*r);
  std::erase(running_, r);
  r->sink->Complete(r->tokens->finish_reason(), last_tokens);
}

void BatchLoop::FailAndRetire(const RequestPtr& r, const Status& status, bool abort) {
  table_.Retire(*r);
  std::erase(running_, r);
  if (abort) {
    r->sink->Abort(status);
  } else {
    r->sink->Fail(status);
  }
}

void BatchLoop::RecordRate(size_t tokens, double seconds) {
  tokens_generated_.fetch_add(tokens);
  if (seconds <= 0) return;
  const double rate = static_cast<double>(tokens) / seconds;
  const double old = tokens_per_second_.load();
  tokens_per_second_.store(old == 0 ? rate : 0.8 * old + 0.2 * rate);
}

}  // namespace kvc::decode::internal

#include "decode/internal/decode_stream.h"

#include "kvc/rpc/grpc_status.h"

namespace kvc::decode::internal {

std::shared_ptr<DecodeStream> DecodeStream::Create(grpc::CallbackServerContext* context,
                                                   uint32_t tokens_per_message) {
  auto stream = std::make_shared<DecodeStream>(context, std::max<uint32_t>(1, tokens_per_message));
  stream->self_ = stream;
  return stream;
}

void DecodeStream::SetOnCancel(std::function<void()> on_cancel) {
  std::lock_guard lock(mu_);
  on_cancel_ = std::move(on_cancel);
}

void DecodeStream::Push(int32_t token) {
  {
    std::lock_guard lock(mu_);
    if (finish_reason_ || error_) return;
    pending_.push_back(token);
    if (writing_ || pending_.size() < tokens_per_message_) return;
  }
  Pump();
}

void DecodeStream::Complete(const std::string& finish_reason,
                            std::span<const int32_t> last_tokens) {
  {
    std::lock_guard lock(mu_);
    if (finish_reason_ || error_) return;
    pending_.insert(pending_.end(), last_tokens.begin(), last_tokens.end());
    finish_reason_ = finish_reason;
  }
  Pump();
}

void DecodeStream::Fail(const Status& status) {
  {
    std::lock_guard lock(mu_);
    if (error_ || (finish_reason_ && last_sent_)) return;
    error_ = ToGrpcStatus(status);
  }
  Pump();
}

void DecodeStream::Abort(const Status& status) {
  {
    std::lock_guard finish(finish_mu_);
    {
      std::lock_guard lock(mu_);
      if (finished_) return;
      if (!error_) error_ = ToGrpcStatus(status);
    }
    context_->TryCancel();  // a pending write completes (not ok) once cancelled
  }
  Pump();
}

bool DecodeStream::Stalled(std::chrono::milliseconds limit) const {
  std::lock_guard lock(mu_);
  return writing_ && std::chrono::steady_clock::now() - write_started_ > limit;
}

void DecodeStream::KeepAlive() {
  {
    std::lock_guard lock(mu_);
    if (finish_reason_ || error_ || writing_ || !pending_.empty()) return;
    keepalive_ = true;
  }
  Pump();
}

void DecodeStream::Pump() {
  enum class Action { kNone, kWrite, kFinish } action = Action::kNone;
  grpc::Status status;
  std::lock_guard finish(finish_mu_);
  {
    std::lock_guard lock(mu_);
    if (finished_ || writing_) return;
    if (error_) {
      action = Action::kFinish;
      status = *error_;
    } else if (last_sent_) {
      action = Action::kFinish;
    } else if (finish_reason_ || pending_.size() >= tokens_per_message_ || keepalive_) {
      keepalive_ = false;
      out_.Clear();
      out_.mutable_token_ids()->Add(pending_.begin(), pending_.end());
      pending_.clear();
      if (finish_reason_) {
        out_.set_finish_reason(*finish_reason_);
        last_sent_ = true;
      }
      action = Action::kWrite;
      writing_ = true;
      write_started_ = std::chrono::steady_clock::now();
    }
    if (action == Action::kFinish) finished_ = true;
  }
  if (action == Action::kWrite) StartWrite(&out_);
  if (action == Action::kFinish) Finish(status);
}

void DecodeStream::OnWriteDone(bool ok) {
  {
    std::lock_guard lock(mu_);
    writing_ = false;
    if (!ok && !error_) error_ = grpc::Status(grpc::StatusCode::CANCELLED, "stream write failed");
  }
  Pump();
}

void DecodeStream::OnCancel() {
  std::function<void()> on_cancel;
  {
    std::lock_guard lock(mu_);
    on_cancel = std::move(on_cancel_);
    on_cancel_ = nullptr;
    if (!error_) error_ = grpc::Status(grpc::StatusCode::CANCELLED, "client cancelled the stream");
  }
  if (on_cancel) on_cancel();
  Pump();
}

void DecodeStream::OnDone() {
  std::shared_ptr<DecodeStream> keep = std::move(self_);  // may delete this on return
}

}  // namespace kvc::decode::internal

// DecodeStream: the server side of one kvc.v1.Decode stream, a gRPC callback
// reactor (no thread per stream). The engine thread pushes tokens into it; it keeps
// at most one write in flight and batches the tokens that arrive meanwhile into the
// next message (at least `tokens_per_message` per message, except the last one,
// which carries finish_reason). A client that goes away calls `on_cancel`.
//
// Ownership: shared by gRPC (until OnDone) and the request that feeds it.
// Thread-safe.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "decode/internal/request_table.h"
#include "kvc/v1/decode.pb.h"

namespace kvc::decode::internal {

class DecodeStream final : public grpc::ServerWriteReactor<v1::DecodeResponse>, public TokenSink {
 public:
  // A stream that keeps itself alive until gRPC calls OnDone.
  static std::shared_ptr<DecodeStream> Create(grpc::CallbackServerContext* context,
                                              uint32_t tokens_per_message);
  // Called once, from a gRPC thread, when the client cancels or goes away.
  void SetOnCancel(std::function<void()> on_cancel);

  // TokenSink
  void Push(int32_t token) override;
  void Complete(const std::string& finish_reason, std::span<const int32_t> last_tokens) override;
  void Fail(const Status& status) override;
  void Abort(const Status& status) override;
  bool Stalled(std::chrono::milliseconds limit) const override;
  void KeepAlive() override;

  // grpc::ServerWriteReactor
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

  DecodeStream(grpc::CallbackServerContext* context, uint32_t tokens_per_message)
      : context_(context), tokens_per_message_(tokens_per_message) {}

 private:
  // Starts the next write or the Finish when one is due. Never holds mu_ while
  // calling into gRPC.
  void Pump();

  grpc::CallbackServerContext* const context_;
  const uint32_t tokens_per_message_;
  std::shared_ptr<DecodeStream> self_;  // released in OnDone

  // Held around Finish and TryCancel so the context is not used after Finish.
  // Recursive: gRPC may run a reaction inline on the calling thread.
  std::recursive_mutex finish_mu_;
  mutable std::mutex mu_;
  std::function<void()> on_cancel_;           // guarded by mu_
  std::vector<int32_t> pending_;              // guarded by mu_
  std::optional<std::string> finish_reason_;  // guarded by mu_
  std::optional<grpc::Status> error_;         // guarded by mu_
  bool keepalive_ = false;                    // an empty message is due; guarded by mu_
  bool last_sent_ = false;                    // the message with finish_reason was written
  bool writing_ = false;                      // guarded by mu_
  bool finished_ = false;                     // Finish was called; guarded by mu_
  std::chrono::steady_clock::time_point write_started_;  // guarded by mu_
  v1::DecodeResponse out_;  // the message in flight; guarded by writing_
};

}  // namespace kvc::decode::internal

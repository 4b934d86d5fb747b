// The end of a request: the Decode stream's messages, finish and failure.
#include "absl/strings/str_cat.h"
#include "conductor/pipeline_impl.h"
#include "kvc/common/logging.h"
#include "kvc/common/reason.h"
#include "kvc/rpc/grpc_status.h"

namespace kvc::conductor {

void Call::OnDecodeMessage(const kvc::v1::DecodeResponse& m, grpc::ClientContext& ctx) {
  stream_activity_ns_ = SteadyNanos();
  if (Done() || !finish_reason_.empty()) return;
  std::string text;
  std::vector<uint32_t> ids;
  for (uint32_t id : m.token_ids()) {
    if (text_->finished()) break;
    text += text_->Add(id);
    ids.push_back(id);
  }
  if (!ids.empty()) {
    Observe(ids);
    impl_->placer.DecodeProgress(id_, text_->tokens());
    sink_->OnText(text, ids);
  }
  if (text_->finished()) {
    finish_reason_ = "stop";
    if (m.finish_reason().empty()) {  // a stop string the decode node cannot see
      ctx.TryCancel();
      CancelOnDecode(DecodeNode().rpc_address(), /*kv_writes_done=*/true);
    }
  } else if (!m.finish_reason().empty()) {
    finish_reason_ = m.finish_reason();
  }
}

void Call::OnDecodeDone(const grpc::Status& grpc_status) {
  SetInflight(nullptr);
  impl_->placer.DecodeEnded(id_);
  if (Done()) return;
  if (!finish_reason_.empty()) return Complete(finish_reason_);
  if (stalled_) return StreamStalled();
  Status s = FromGrpcStatus(grpc_status);
  if (s.ok()) {
    s = WithReason(absl::InternalError("the decode stream ended without a finish reason"),
                   Reason::kDecodeProtocol);
  }
  Logger("conductor")
      ->warn("request {}: decode node {} failed mid-stream: {}", id_, DecodeNode().node_id(),
             s.ToString());
  if (Unreachable(s)) impl_->placer.Unreachable(DecodeNode().node_id(), std::string(s.message()));
  const Status failed = absl::UnavailableError(
      absl::StrCat("decode node ", DecodeNode().node_id(), " failed mid-stream: ", s.message()));
  // The node's own reason (by name: it may be one this build does not know), else NODE_FAILED.
  Fail(ReasonOf(s).empty() ? WithReason(failed, Reason::kNodeFailed)
                           : WithReason(failed, std::string_view(ReasonOf(s))));
}

void Call::StreamStalled() {
  const auto& node = DecodeNode();
  impl_->counters.decode_stalls.Increment();
  impl_->placer.Unreachable(
      node.node_id(),
      absl::StrCat("Decode stream silent for ", impl_->options.stream_idle_timeout_ms, " ms"));
  CancelOnDecode(node.rpc_address(), /*kv_writes_done=*/true);  // the Prefill answered OK
  CancelOnPrefill(placement_.prefill.rpc_address());
  Fail(WithReason(absl::UnavailableError(absl::StrCat(
                      "decode node ", node.node_id(), " sent no token for ",
                      impl_->options.stream_idle_timeout_ms, " ms (stream_idle_timeout_ms)")),
                  Reason::kDecodeStalled));
}

void Call::Complete(const std::string& finish_reason) {
  if (!Finish()) return;
  const std::string rest = text_->Finish();
  if (!rest.empty()) sink_->OnText(rest, {});
  usage_.completion_tokens = text_->tokens();
  auto& c = impl_->counters;
  c.completion_tokens.Increment(usage_.completion_tokens);
  c.e2e.Observe(ToSeconds(impl_->clock.Now() - arrival_));
  GenerationResult result;
  result.finish_reason = finish_reason;
  result.usage = usage_;
  result.prefill_node = placement_.prefill.node_id();
  result.decode_node = DecodeNode().node_id();
  sink_->OnFinish(result);
}

void Call::Fail(const Status& status) {
  bool started = false;
  {
    std::lock_guard lock(mu_);
    if (done_) return;
    done_ = true;
    started = running_gauge_;
  }
  const Reason reason = ReasonCodeOf(status);
  if (reason == Reason::kSloUnattainable || reason == Reason::kNoKvSpace ||
      reason == Reason::kKvCapacity) {
    impl_->counters.rejected.Increment();
    impl_->counters.Rejections(std::string(ReasonName(reason))).Increment();
  } else {
    impl_->counters.failed.Increment();
  }
  if (started) impl_->counters.completion_tokens.Increment(text_->tokens());
  sink_->OnError(status, started);
}

}  // namespace kvc::conductor

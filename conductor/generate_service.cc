#include "kvc/conductor/generate_service.h"

#include <deque>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "kvc/common/reason.h"
#include "kvc/conductor/client_id.h"
#include "kvc/rpc/auth.h"
#include "kvc/rpc/grpc_status.h"

namespace kvc::conductor {
namespace {

using kvc::v1::GenerateResponse;

// Writes queued messages one at a time, then finishes. Owned by itself until OnDone
// and by the sink, so a late event from the pipeline never touches freed memory.
class GenerateStream : public grpc::ServerWriteReactor<GenerateResponse> {
 public:
  static std::shared_ptr<GenerateStream> Create() {
    auto s = std::make_shared<GenerateStream>();
    s->self_ = s;
    return s;
  }
  // Queues `m` (nullptr: none) and, with `finish`, ends the RPC with `status` after it.
  void Send(const GenerateResponse* m, bool finish, grpc::Status status = grpc::Status::OK) {
    {
      std::lock_guard lock(mu_);
      if (finish_pending_ || cancelled_) return;
      if (m != nullptr) queue_.push_back(*m);
      if (finish) {
        finish_pending_ = true;
        status_ = std::move(status);
      }
    }
    Pump();
  }
  // The pipeline request to cancel when the client goes away.
  void SetHandle(const std::shared_ptr<RequestHandle>& h) {
    bool cancelled;
    {
      std::lock_guard lock(mu_);
      handle_ = h;
      cancelled = cancelled_;
    }
    if (cancelled) h->Cancel();
  }
  void OnWriteDone(bool ok) override {
    {
      std::lock_guard lock(mu_);
      queue_.pop_front();
      writing_ = false;
      if (!ok) MarkCancelled();
    }
    Pump();
  }
  void OnCancel() override {
    std::shared_ptr<RequestHandle> h;
    {
      std::lock_guard lock(mu_);
      MarkCancelled();
      h = handle_.lock();
    }
    if (h) h->Cancel();
    Pump();
  }
  void OnDone() override {
    auto keep = std::move(self_);  // may free this object when the sink is gone too
  }

 private:
  void MarkCancelled() {  // REQUIRES: mu_ held
    if (!finish_pending_) status_ = grpc::Status(grpc::StatusCode::CANCELLED, "client cancelled");
    cancelled_ = true;
  }
  // Starts the next write, or finishes when nothing is left to write.
  void Pump() {
    const GenerateResponse* next = nullptr;
    bool finish = false;
    {
      std::lock_guard lock(mu_);
      if (finished_ || writing_) return;
      if (cancelled_) queue_.clear();
      if (!queue_.empty()) {
        writing_ = true;
        next = &queue_.front();
      } else if (finish_pending_ || cancelled_) {
        finished_ = true;
        finish = true;
      }
    }
    if (next != nullptr) StartWrite(next);
    if (finish) Finish(status_);
  }

  std::mutex mu_;
  std::deque<GenerateResponse> queue_;  // front is in flight while writing_
  bool writing_ = false, finish_pending_ = false, cancelled_ = false, finished_ = false;
  grpc::Status status_;
  std::weak_ptr<RequestHandle> handle_;
  std::shared_ptr<GenerateStream> self_;  // until OnDone
};

// The pipeline's events as Generate messages. Holds the stream until OnDone
// detaches it (the reactor deletes itself then).
class StreamSink : public GenerationSink {
 public:
  explicit StreamSink(std::shared_ptr<GenerateStream> stream) : stream_(std::move(stream)) {}

  void OnStart(const std::string& id, const std::string& prefill,
               const std::string& decode) override {
    id_ = id;
    prefill_ = prefill;
    decode_ = decode;
  }
  void OnText(const std::string& text, const std::vector<uint32_t>& ids) override {
    GenerateResponse m = Base();
    m.set_text(text);
    for (uint32_t id : ids) m.add_token_ids(id);
    stream_->Send(&m, false);
  }
  void OnFinish(const GenerationResult& r) override {
    GenerateResponse m = Base();
    m.set_finish_reason(r.finish_reason);
    m.mutable_usage()->set_prompt_tokens(r.usage.prompt_tokens);
    m.mutable_usage()->set_completion_tokens(r.usage.completion_tokens);
    m.mutable_usage()->set_cached_tokens(r.usage.cached_tokens);
    stream_->Send(&m, true);
  }
  void OnError(const Status& s, bool started) override {
    if (!started) return stream_->Send(nullptr, true, ToGrpcStatus(s));
    GenerateResponse m = Base();
    m.set_finish_reason("error");
    m.mutable_error()->set_reason(ReasonOf(s));
    m.mutable_error()->set_message(std::string(s.message()));
    stream_->Send(&m, true);
  }

 private:
  GenerateResponse Base() const {
    GenerateResponse m;
    m.set_request_id(id_);
    m.set_prefill_node_id(prefill_);
    m.set_decode_node_id(decode_);
    return m;
  }
  const std::shared_ptr<GenerateStream> stream_;
  std::string id_, prefill_, decode_;
};

Status Invalid(const std::string& m) { return absl::InvalidArgumentError(m); }

}  // namespace

StatusOr<openai::GenerationRequest> FromGenerateRequest(const kvc::v1::GenerateRequest& req,
                                                        const std::string& served_model) {
  if (req.model() != served_model && !req.model().empty()) {
    return WithReason(
        absl::NotFoundError(absl::StrCat(
            "model '", req.model(), "' does not exist; this cluster serves '", served_model, "'")),
        Reason::kModelNotFound);
  }
  openai::GenerationRequest r;
  r.model = served_model;
  r.stream = true;
  switch (req.prompt_case()) {
    case kvc::v1::GenerateRequest::kMessages:
      r.endpoint = openai::GenerationRequest::Endpoint::kChat;
      for (const auto& m : req.messages().messages()) r.messages.push_back({m.role(), m.content()});
      if (r.messages.empty()) return Invalid("messages must not be empty");
      break;
    case kvc::v1::GenerateRequest::kText:
      r.endpoint = openai::GenerationRequest::Endpoint::kCompletion;
      r.prompt_text = req.text();
      if (r.prompt_text.empty()) return Invalid("text must not be empty");
      break;
    case kvc::v1::GenerateRequest::kTokenIds:
      r.endpoint = openai::GenerationRequest::Endpoint::kCompletion;
      r.prompt_is_tokens = true;
      r.prompt_tokens.assign(req.token_ids().ids().begin(), req.token_ids().ids().end());
      if (r.prompt_tokens.empty()) return Invalid("token_ids must not be empty");
      break;
    default:
      return Invalid("a prompt is required: text, token_ids or messages");
  }
  const auto& s = req.sampling();
  if (s.max_tokens() > 0) r.max_tokens = s.max_tokens();
  if (!(s.temperature() >= 0 && s.temperature() <= 2)) {
    return Invalid(
        absl::StrCat("sampling.temperature must be between 0 and 2, got ", s.temperature()));
  }
  if (!(s.top_p() >= 0 && s.top_p() <= 1)) {
    return Invalid(absl::StrCat("sampling.top_p must be between 0 and 1, got ", s.top_p()));
  }
  r.temperature = s.temperature();
  r.top_p = s.top_p() == 0 ? 1.0 : s.top_p();
  r.top_k = s.top_k();
  if (s.has_seed()) r.seed = s.seed();
  for (const auto& stop : s.stop()) {
    if (!stop.empty()) r.stop.push_back(stop);
  }
  r.ignore_eos = s.ignore_eos();
  r.include_usage = req.include_usage();
  // The same checks as the HTTP entry (roles, stop strings, limits).
  KVC_RETURN_IF_ERROR(openai::ValidateGenerationRequest(&r));
  return r;
}

GenerateServiceImpl::GenerateServiceImpl(Pipeline& pipeline, const ServedModel& model,
                                         ConductorCounters& counters,
                                         std::vector<std::string> api_keys)
    : pipeline_(pipeline), model_(model), counters_(counters), api_keys_(std::move(api_keys)) {}

grpc::ServerWriteReactor<GenerateResponse>* GenerateServiceImpl::Generate(
    grpc::CallbackServerContext* ctx, const kvc::v1::GenerateRequest* req) {
  auto stream = GenerateStream::Create();
  bool authorized = api_keys_.empty();
  const auto& md = ctx->client_metadata();
  const auto it = md.find("authorization");
  const std::string header =
      it == md.end() ? "" : std::string(it->second.data(), it->second.size());
  for (const auto& key : api_keys_) authorized = authorized || BearerMatches(header, key);
  if (!authorized) {
    stream->Send(nullptr, true,
                 ToGrpcStatus(absl::UnauthenticatedError("invalid or missing API key")));
    return stream.get();
  }
  auto parsed = FromGenerateRequest(*req, model_.id());
  if (!parsed.ok()) {
    stream->Send(nullptr, true, ToGrpcStatus(parsed.status()));
    return stream.get();
  }
  parsed->client_id = ClientId(api_keys_, header, ctx->peer());
  counters_.requests.Increment();
  stream->SetHandle(pipeline_.Start(*std::move(parsed), std::make_shared<StreamSink>(stream)));
  return stream.get();
}

}  // namespace kvc::conductor

// One request's way through the pipeline: Admit (pool) → Reserve → Prefill →
// Decode stream (gRPC callbacks).
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "conductor/pipeline_impl.h"
#include "kvc/common/ids.h"
#include "kvc/common/logging.h"
#include "kvc/common/reason.h"
#include "kvc/rpc/grpc_status.h"

namespace kvc::conductor {
namespace {

using std::chrono::milliseconds;

// The Decode stream: reads until the server ends it, handing messages to the call.
// Deletes itself when the RPC is done.
class DecodeReactor : public grpc::ClientReadReactor<kvc::v1::DecodeResponse> {
 public:
  explicit DecodeReactor(std::shared_ptr<Call> call) : call_(std::move(call)) {}

  std::shared_ptr<grpc::ClientContext> ctx = std::make_shared<grpc::ClientContext>();
  kvc::v1::DecodeRequest request;

  void Start() {
    StartRead(&message_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    call_->OnDecodeMessage(message_, *ctx);
    message_.Clear();
    StartRead(&message_);
  }
  void OnDone(const grpc::Status& status) override {
    call_->OnDecodeDone(status);
    delete this;
  }

 private:
  std::shared_ptr<Call> call_;
  kvc::v1::DecodeResponse message_;
};

// A failure that means "this node is gone or overloaded", worth a retry elsewhere.
bool NodeFault(const Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnknown:
      return true;
    default:
      return false;
  }
}

}  // namespace

bool Unreachable(const Status& s) {
  // gRPC's own UNAVAILABLE (connection refused or reset) carries no kvc reason; a
  // worker's refusals (SHUTTING_DOWN, DECODE_UNREACHABLE, ...) always do.
  return s.code() == absl::StatusCode::kUnavailable && ReasonOf(s).empty();
}

Call::Call(std::shared_ptr<Pipeline::Impl> impl, openai::GenerationRequest request,
           std::shared_ptr<GenerationSink> sink)
    : impl_(std::move(impl)),
      request_(std::move(request)),
      sink_(std::move(sink)),
      id_(NewRequestId()),
      arrival_(impl_->clock.Now()),
      deadline_unix_ms_(impl_->clock.UnixMillis() + impl_->options.request_timeout_ms) {}

Call::~Call() {
  impl_->placer.DecodeEnded(id_);
  if (waiting_gauge_) {
    impl_->counters.waiting.Add(-1);
    impl_->waiting_calls.fetch_sub(1);
  }
  if (running_gauge_) impl_->counters.running.Add(-1);
}

void Call::Begin() {
  waiting_gauge_ = true;
  impl_->counters.waiting.Add(1);
  const int64_t waiting = impl_->waiting_calls.fetch_add(1) + 1;
  if (waiting > static_cast<int64_t>(impl_->options.max_waiting_requests)) {
    return Fail(WithReason(
        absl::ResourceExhaustedError(absl::StrCat("the conductor has ", waiting - 1,
                                                  " requests waiting for their first token (",
                                                  "max_waiting_requests)")),
        Reason::kQueueFull));
  }
  auto self = shared_from_this();
  if (!impl_->Post([self] { self->Admit(); })) {
    Fail(WithReason(absl::UnavailableError("the conductor is shutting down"),
                    Reason::kShuttingDown));
  }
}

bool Call::Done() {
  std::lock_guard lock(mu_);
  return done_;
}

bool Call::Finish() {
  std::lock_guard lock(mu_);
  if (done_) return false;
  done_ = true;
  return true;
}

void Call::SetInflight(std::shared_ptr<grpc::ClientContext> ctx) {
  std::lock_guard lock(mu_);
  inflight_ = std::move(ctx);
}

kvc::v1::RequestHeader Call::Header() const {
  kvc::v1::RequestHeader h;
  // A retry is a new request on the workers: the failed attempt's Cancel may still be
  // on its way when the retry's Reserve reaches the same decode node.
  const int attempt = attempts_.load();
  h.set_request_id(attempt == 0 ? id_ : absl::StrCat(id_, ".", attempt));
  h.set_deadline_unix_ms(deadline_unix_ms_);
  h.set_caller_node_id("conductor");
  return h;
}

void Call::Cancel() {
  std::shared_ptr<grpc::ClientContext> ctx;
  std::string prefill, decode;
  bool kv_writes_done = false;
  {
    std::lock_guard lock(mu_);
    if (done_) return;
    done_ = cancelled_ = true;
    ctx = inflight_;
    prefill = prefill_address_;
    decode = decode_address_;
    // No late KV write can reach the reservation when no Prefill was sent or it
    // answered OK; otherwise the decode node quarantines the blocks.
    kv_writes_done = prefill.empty() || prefill_answered_;
  }
  Logger("conductor")->debug("request {} cancelled by the client", id_);
  if (ctx) ctx->TryCancel();
  // When the prefill node confirms that its writes are over, the decode node is
  // told so and releases the quarantined reservation.
  if (!prefill.empty()) CancelOnPrefill(prefill, kv_writes_done ? "" : decode);
  if (!decode.empty()) CancelOnDecode(decode, kv_writes_done);
}

void Call::CancelOnPrefill(const std::string& address, const std::string& release_on_decode) {
  auto c = std::make_shared<UnaryCall<kvc::v1::CancelRequest, kvc::v1::CancelResponse>>();
  *c->request.mutable_header() = Header();
  impl_->clients.Prepare(c->ctx, milliseconds(impl_->options.rpc_timeout_ms));
  impl_->CancelSent();
  auto self = shared_from_this();
  impl_->clients.Prefill(address).async()->Cancel(
      &c->ctx, &c->request, &c->response, [c, self, release_on_decode](grpc::Status s) {
        if (s.ok() && c->response.kv_writes_done() && !release_on_decode.empty()) {
          self->CancelOnDecode(release_on_decode, /*kv_writes_done=*/true);
        }
        self->impl_->CancelDone();
      });
}

void Call::CancelOnDecode(const std::string& address, bool kv_writes_done) {
  auto c = std::make_shared<UnaryCall<kvc::v1::CancelRequest, kvc::v1::CancelResponse>>();
  *c->request.mutable_header() = Header();
  c->request.set_kv_writes_done(kv_writes_done);
  impl_->clients.Prepare(c->ctx, milliseconds(impl_->options.rpc_timeout_ms));
  impl_->CancelSent();
  impl_->clients.Decode(address).async()->Cancel(
      &c->ctx, &c->request, &c->response, [c, impl = impl_](grpc::Status) { impl->CancelDone(); });
}

Status Call::Prepare() {
  const ServedModel& model = impl_->model;
  auto prompt = model.PromptTokens(request_);
  if (!prompt.ok()) return WithReason(prompt.status(), Reason::kBadPrompt);
  prompt_ = *std::move(prompt);
  const int64_t context = model.context_tokens();
  const int64_t n = static_cast<int64_t>(prompt_.size());
  if (n >= context) {
    return WithReason(absl::InvalidArgumentError(absl::StrCat(
                          "the prompt has ", n, " tokens; the model's context is ", context,
                          " tokens (prompt + completion), so at most ", context - 1, " fit")),
                      Reason::kPromptTooLong);
  }
  if (request_.max_tokens) {
    if (n + *request_.max_tokens > context) {
      return WithReason(absl::InvalidArgumentError(absl::StrCat(
                            "max_tokens ", *request_.max_tokens, " + the prompt's ", n,
                            " tokens exceed the model's context of ", context, " tokens")),
                        Reason::kPromptTooLong);
    }
    max_new_ = *request_.max_tokens;
  } else {
    const uint32_t rest = static_cast<uint32_t>(context - n);
    const uint32_t d = impl_->options.default_max_tokens;
    max_new_ = d == 0 ? rest : std::min(d, rest);
  }
  sampling_.set_max_tokens(max_new_);
  sampling_.set_temperature(static_cast<float>(request_.temperature));
  sampling_.set_top_p(static_cast<float>(request_.top_p));
  sampling_.set_top_k(request_.top_k);
  sampling_.set_has_seed(request_.seed.has_value());
  sampling_.set_seed(request_.seed.value_or(std::hash<std::string>()(id_)));
  sampling_.set_ignore_eos(request_.ignore_eos);
  std::vector<uint32_t> stop_ids;
  // ignore_eos also ignores the chat template's end-of-turn tokens (as vLLM does:
  // they are the model's EOS ids for a chat reply), so generation runs to max_tokens.
  if (request_.endpoint == openai::GenerationRequest::Endpoint::kChat && !request_.ignore_eos) {
    for (uint32_t id : model.chat_stop_ids()) {
      sampling_.add_stop_token_ids(id);
      stop_ids.push_back(id);
    }
  }
  for (const auto& s : request_.stop) sampling_.add_stop(s);
  if (!request_.ignore_eos) {
    for (uint32_t id : model.eos_ids()) stop_ids.push_back(id);
  }
  text_ = std::make_unique<TextStream>(model.tokenizer(), std::move(stop_ids), request_.stop);
  keys_ = ChainedBlockKeys(model.id(), prompt_, impl_->options.block_tokens);
  if (impl_->store != nullptr && !keys_.empty()) {
    auto match = impl_->store->MatchPrefix(keys_);
    if (match.ok()) {
      matches_ = match->nodes;
    } else {
      Logger("conductor")
          ->warn("MatchPrefix failed, placing without cache info: {}", match.status().ToString());
    }
  }
  usage_.prompt_tokens = static_cast<uint32_t>(n);
  return Status();
}

void Call::Admit() {
  if (Done()) return;
  if (!prepared_) {
    if (Status s = Prepare(); !s.ok()) return Fail(s);
    prepared_ = true;
    impl_->counters.prompt_tokens.Increment(static_cast<double>(prompt_.size()));
  }
  PlacementInput in;
  in.prompt_tokens = static_cast<uint32_t>(prompt_.size());
  in.max_new_tokens = max_new_;
  in.matches = matches_;
  in.excluded = excluded_;
  auto placement = impl_->placer.Place(in);
  if (!placement.ok()) {
    if (ReasonCodeOf(placement.status()) == Reason::kNoKvSpace)
      return WaitForKv(placement.status());
    return Fail(placement.status());
  }
  placement_ = *std::move(placement);
  decode_index_ = 0;
  DoReserve();
}

void Call::DoReserve() {
  const auto& node = DecodeNode();
  auto c = std::make_shared<Reserve>();
  *c->request.mutable_header() = Header();
  c->request.set_prompt_tokens(static_cast<uint32_t>(prompt_.size()));
  c->request.set_max_new_tokens(max_new_);
  c->request.set_client_id(request_.client_id);
  impl_->clients.Prepare(c->ctx, milliseconds(impl_->options.rpc_timeout_ms));
  {
    std::lock_guard lock(mu_);
    if (done_) return;
    decode_address_ = node.rpc_address();
    inflight_ = std::shared_ptr<grpc::ClientContext>(c, &c->ctx);
  }
  // Counted on the node from now on, so requests placed meanwhile see it.
  impl_->placer.DecodeStarted(id_, node.node_id(), static_cast<uint32_t>(prompt_.size()), max_new_);
  auto self = shared_from_this();
  impl_->clients.Decode(node.rpc_address())
      .async()
      ->Reserve(&c->ctx, &c->request, &c->response,
                [self, c](grpc::Status s) { self->OnReserved(c, s); });
}

void Call::OnReserved(const std::shared_ptr<Reserve>& c, const grpc::Status& grpc_status) {
  SetInflight(nullptr);
  const Status s = FromGrpcStatus(grpc_status);
  const auto& node = DecodeNode();
  if (Done()) {
    // Cancelled meanwhile: free it (no Prefill was sent, so no write can arrive).
    if (s.ok()) CancelOnDecode(node.rpc_address(), /*kv_writes_done=*/true);
    return;
  }
  if (s.ok()) {
    const size_t b = impl_->options.block_tokens;
    const size_t want = (prompt_.size() + b - 1) / b;
    if (static_cast<size_t>(c->response.kv_size()) != want) {
      CancelOnDecode(node.rpc_address(), /*kv_writes_done=*/true);
      return Fail(WithReason(
          absl::InternalError(absl::StrCat("decode node ", node.node_id(), " reserved ",
                                           c->response.kv_size(), " blocks, expected ", want)),
          Reason::kKvLayoutMismatch));
    }
    return DoPrefill(c->response);
  }
  // Not reserved: stop counting this request on that node, or its own phantom
  // would take room from it when it is placed again.
  impl_->placer.DecodeEnded(id_);
  if (ReasonCodeOf(s) == Reason::kNoKvSpace) {
    if (++decode_index_ < placement_.decode.size()) return DoReserve();
    return WaitForKv(WithReason(
        absl::ResourceExhaustedError("no decode node has KV memory for this request now"),
        Reason::kNoKvSpace));
  }
  if (NodeFault(s)) return NodeFailed(node, s);
  Fail(s);
}

void Call::DoPrefill(const kvc::v1::ReserveResponse& reservation) {
  const auto& node = placement_.prefill;
  auto c = std::make_shared<Prefill>();
  auto& r = c->request;
  *r.mutable_header() = Header();
  // A prefill node must not start writing into a reservation that has ended (its
  // blocks are quarantined on the decode node only for a bounded time).
  const int64_t expires = reservation.reservation_expires_unix_ms();
  if (expires > 0 && expires < r.header().deadline_unix_ms()) {
    r.mutable_header()->set_deadline_unix_ms(expires);
  }
  for (uint32_t t : prompt_) r.add_token_ids(t);
  for (uint32_t i = 0; i < placement_.prefix_blocks && i < keys_.size(); ++i) {
    auto* b = r.add_prefix_blocks();
    b->mutable_key()->set_hi(keys_[i].hi);
    b->mutable_key()->set_lo(keys_[i].lo);
    b->set_holder_node_id(placement_.prefix_holder);
  }
  *r.mutable_decode_kv() = reservation.kv();
  r.set_decode_node_id(DecodeNode().node_id());
  *r.mutable_sampling() = sampling_;
  r.set_model_id(impl_->model.id());
  impl_->clients.Prepare(c->ctx, milliseconds(impl_->options.prefill_timeout_ms));
  {
    std::lock_guard lock(mu_);
    if (done_) {
      CancelOnDecode(DecodeNode().rpc_address(), /*kv_writes_done=*/true);  // Prefill not sent
      return;
    }
    prefill_address_ = node.rpc_address();
    inflight_ = std::shared_ptr<grpc::ClientContext>(c, &c->ctx);
  }
  impl_->placer.PrefillStarted(node.node_id(), static_cast<uint32_t>(prompt_.size()));
  auto self = shared_from_this();
  impl_->clients.Prefill(node.rpc_address())
      .async()
      ->Prefill(&c->ctx, &c->request, &c->response,
                [self, c](grpc::Status s) { self->OnPrefilled(c, s); });
}

void Call::OnPrefilled(const std::shared_ptr<Prefill>& c, const grpc::Status& grpc_status) {
  const Status s = FromGrpcStatus(grpc_status);
  {
    std::lock_guard lock(mu_);
    inflight_ = nullptr;
    // An OK answer means every KV write into the reservation completed.
    prefill_answered_ = s.ok();
  }
  impl_->placer.PrefillEnded(placement_.prefill.node_id(), static_cast<uint32_t>(prompt_.size()));
  if (Done()) {
    if (s.ok()) CancelOnDecode(DecodeNode().rpc_address(), /*kv_writes_done=*/true);
    return;
  }
  if (s.ok()) return OnFirstToken(c->response);
  CancelOnDecode(DecodeNode().rpc_address());  // free the reservation
  {
    std::lock_guard lock(mu_);
    decode_address_.clear();
  }
  if (s.code() == absl::StatusCode::kDeadlineExceeded) {
    CancelOnPrefill(placement_.prefill.rpc_address());
  }
  if (ReasonCodeOf(s) == Reason::kDecodeUnreachable) return NodeFailed(DecodeNode(), s);
  if (NodeFault(s)) return NodeFailed(placement_.prefill, s);
  Fail(s);
}

void Call::NodeFailed(const kvc::v1::NodeInfo& node, const Status& why) {
  Logger("conductor")
      ->warn("request {}: node {} failed before the first token: {}", id_, node.node_id(),
             why.ToString());
  if (Unreachable(why)) {
    impl_->placer.Unreachable(node.node_id(), std::string(why.message()));
  } else {
    impl_->placer.Suspect(node.node_id(), std::chrono::seconds(2));
  }
  if (attempts_ + 1 < impl_->options.max_attempts) {
    ++attempts_;
    excluded_.insert(node.node_id());
    impl_->counters.retries.Increment();
    auto self = shared_from_this();
    if (impl_->Post([self] { self->Admit(); })) return;
  }
  Fail(WithReason(
      absl::UnavailableError(absl::StrCat("node ", node.node_id(), " failed: ", why.message())),
      Reason::kNodeFailed));
}

void Call::WaitForKv(const Status& why) {
  const auto waited = impl_->clock.Now() - arrival_;
  if (waited >= milliseconds(impl_->options.kv_wait_ms)) return Fail(why);
  // Back off 10, 20, 40 ... 200 ms between placements while KV memory is short.
  const int64_t backoff = std::min<int64_t>(200, int64_t{10} << std::min(kv_waits_++, 5));
  auto self = shared_from_this();
  if (!impl_->PostAfter(milliseconds(backoff), [self] { self->Admit(); })) Fail(why);
}

void Call::Observe(const std::vector<uint32_t>& ids) {
  const auto now = impl_->clock.Now();
  const double gap = ToSeconds(now - last_token_) / static_cast<double>(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) impl_->counters.inter_token.Observe(gap);
  last_token_ = now;
}

void Call::OnFirstToken(const kvc::v1::PrefillResponse& r) {
  last_token_ = impl_->clock.Now();
  impl_->counters.ttft.Observe(ToSeconds(last_token_ - arrival_));
  impl_->counters.cached_prompt_tokens.Increment(r.cached_tokens());
  impl_->counters.computed_prompt_tokens.Increment(r.computed_tokens());
  impl_->counters.fetched_prompt_tokens.Increment(r.fetched_tokens());
  usage_.cached_tokens = r.cached_tokens();
  impl_->counters.waiting.Add(-1);
  impl_->waiting_calls.fetch_sub(1);
  waiting_gauge_ = false;
  impl_->counters.running.Add(1);
  running_gauge_ = true;
  sink_->OnStart(id_, placement_.prefill.node_id(), DecodeNode().node_id());
  const uint32_t first = first_token_ = r.first_token_id();
  sink_->OnText(text_->Add(first), {first});
  if (text_->finished() || max_new_ <= 1) {
    // Decode is not called: free the reservation.
    CancelOnDecode(DecodeNode().rpc_address(), /*kv_writes_done=*/true);
    return Complete(text_->finished() ? "stop" : "length");
  }
  DoDecode();
}

void Call::DoDecode() {
  auto* reactor = new DecodeReactor(shared_from_this());
  auto& r = reactor->request;
  *r.mutable_header() = Header();
  r.set_first_token_id(first_token_);
  r.set_prompt_tokens(static_cast<uint32_t>(prompt_.size()));
  *r.mutable_sampling() = sampling_;
  for (uint32_t t : prompt_) r.add_prompt_token_ids(t);
  impl_->clients.PrepareUntil(
      *reactor->ctx, std::chrono::system_clock::time_point(milliseconds(deadline_unix_ms_)));
  {
    std::lock_guard lock(mu_);
    if (done_) {  // cancelled after the first token arrived
      delete reactor;
      CancelOnDecode(DecodeNode().rpc_address(), /*kv_writes_done=*/true);
      return;
    }
    inflight_ = reactor->ctx;
  }
  stream_activity_ns_ = SteadyNanos();
  if (impl_->options.stream_idle_timeout_ms > 0) {
    WatchStream(milliseconds(impl_->options.stream_idle_timeout_ms));
  }
  impl_->clients.Decode(DecodeNode().rpc_address())
      .async()
      ->Decode(reactor->ctx.get(), &reactor->request, reactor);
  reactor->Start();
}

void Call::WatchStream(milliseconds delay) {
  std::weak_ptr<Call> weak = shared_from_this();  // the watch keeps no call alive
  impl_->PostAfter(delay, [weak] {
    if (auto call = weak.lock()) call->CheckStreamIdle();
  });
}

void Call::CheckStreamIdle() {
  const milliseconds timeout(impl_->options.stream_idle_timeout_ms);
  std::shared_ptr<grpc::ClientContext> ctx;
  {
    std::lock_guard lock(mu_);
    if (done_ || inflight_ == nullptr) return;  // the stream ended
    ctx = inflight_;
  }
  const auto idle = std::chrono::nanoseconds(SteadyNanos() - stream_activity_ns_.load());
  if (idle < timeout) {
    return WatchStream(std::chrono::ceil<milliseconds>(timeout - idle));
  }
  Logger("conductor")
      ->warn("request {}: decode node {} sent nothing for {} ms; cancelling the stream", id_,
             DecodeNode().node_id(), std::chrono::duration_cast<milliseconds>(idle).count());
  stalled_ = true;
  ctx->TryCancel();  // OnDecodeDone follows and reports DECODE_STALLED
}

}  // namespace kvc::conductor

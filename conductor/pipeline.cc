#include "kvc/conductor/pipeline.h"

#include "absl/strings/str_cat.h"
#include "conductor/pipeline_impl.h"
#include "kvc/common/logging.h"
#include "kvc/common/reason.h"

namespace kvc::conductor {

Pipeline::Impl::Impl(PipelineOptions o, const ServedModel& m, Placer& p, ConductorCounters& c,
                     store::PrefixMatcher* s, const Clock& clk)
    : options(std::move(o)),
      model(m),
      placer(p),
      counters(c),
      store(s),
      clock(clk),
      clients(options.cluster_token),
      pool(std::make_unique<ThreadPool>(options.threads)) {}

bool Pipeline::Impl::Post(std::function<void()> task) {
  std::lock_guard lock(mu);
  return pool != nullptr && pool->Post(std::move(task));
}

bool Pipeline::Impl::PostAfter(std::chrono::milliseconds delay, std::function<void()> task) {
  std::lock_guard lock(mu);
  return pool != nullptr && pool->PostAfter(delay, std::move(task));
}

std::shared_ptr<Call> Pipeline::Impl::NewCall(openai::GenerationRequest request,
                                              std::shared_ptr<GenerationSink> sink) {
  auto impl = self.lock();
  // The deleter forgets the call only once it is fully destroyed (its sink included),
  // so Shutdown returns only when no request holds anything of the servers.
  std::shared_ptr<Call> call(new Call(impl, std::move(request), std::move(sink)), [impl](Call* c) {
    delete c;
    impl->Forget(c);
  });
  std::lock_guard lock(mu);
  live[call.get()] = call;
  return call;
}

void Pipeline::Impl::Forget(Call* call) {
  std::lock_guard lock(mu);
  live.erase(call);
  if (live.empty() && cancels_in_flight == 0) cv.notify_all();
}

void Pipeline::Impl::CancelSent() {
  std::lock_guard lock(mu);
  ++cancels_in_flight;
}

void Pipeline::Impl::CancelDone() {
  std::lock_guard lock(mu);
  if (--cancels_in_flight == 0 && live.empty()) cv.notify_all();
}

Pipeline::Pipeline(PipelineOptions options, const ServedModel& model, Placer& placer,
                   ConductorCounters& counters, store::PrefixMatcher* store, const Clock& clock)
    : impl_(std::make_shared<Impl>(std::move(options), model, placer, counters, store, clock)) {
  impl_->self = impl_;
}

Pipeline::~Pipeline() { Shutdown(); }

namespace {

// The handle of a request refused before it started.
class RefusedRequest final : public RequestHandle {
 public:
  void Cancel() override {}
};

}  // namespace

void Pipeline::BeginDrain() { impl_->draining = true; }

bool Pipeline::draining() const { return impl_->draining.load(); }

size_t Pipeline::in_flight() const {
  std::lock_guard lock(impl_->mu);
  return impl_->live.size();
}

bool Pipeline::WaitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock lock(impl_->mu);
  return impl_->cv.wait_for(lock, timeout, [&] { return impl_->live.empty(); });
}

std::shared_ptr<RequestHandle> Pipeline::Start(openai::GenerationRequest request,
                                               std::shared_ptr<GenerationSink> sink) {
  if (impl_->draining) {
    impl_->counters.rejected.Increment();
    impl_->counters.Rejections(std::string(ReasonName(Reason::kShuttingDown))).Increment();
    sink->OnError(WithReason(absl::UnavailableError(
                                 "this conductor is shutting down; send new requests to another"),
                             Reason::kShuttingDown),
                  /*started=*/false);
    return std::make_shared<RefusedRequest>();
  }
  auto call = impl_->NewCall(std::move(request), std::move(sink));
  call->Begin();
  return call;
}

StatusOr<kvc::v1::LookupPrefixResponse> Pipeline::Lookup(const kvc::v1::LookupPrefixRequest& req) {
  if (impl_->store == nullptr) {
    return WithReason(
        absl::FailedPreconditionError("the conductor has no kvc-master (master_address is empty)"),
        Reason::kNoMaster);
  }
  std::vector<uint32_t> tokens;
  if (req.has_token_ids()) {
    tokens.assign(req.token_ids().ids().begin(), req.token_ids().ids().end());
  } else if (req.prompt_case() == kvc::v1::LookupPrefixRequest::kChat && !req.chat().empty()) {
    openai::GenerationRequest chat;  // the tokens /v1/chat/completions would compute
    chat.endpoint = openai::GenerationRequest::Endpoint::kChat;
    chat.messages.push_back({"user", req.chat()});
    KVC_ASSIGN_OR_RETURN(tokens, impl_->model.PromptTokens(chat));
  } else if (!req.text().empty()) {
    tokens = impl_->model.TextTokens(req.text());
  }
  if (tokens.empty()) {
    return WithReason(absl::InvalidArgumentError("give the prompt as text or token ids"),
                      Reason::kBadPrompt);
  }
  const auto keys = ChainedBlockKeys(impl_->model.id(), tokens, impl_->options.block_tokens);
  kvc::v1::LookupPrefixResponse resp;
  resp.set_total_blocks(static_cast<uint32_t>(keys.size()));
  if (keys.empty()) return resp;
  KVC_ASSIGN_OR_RETURN(store::StorePrefixMatch match, impl_->store->MatchPrefix(keys));
  for (const auto& [node, blocks] : match.nodes) {
    auto* m = resp.add_matches();
    m->set_node_id(node);
    m->set_matched_blocks(blocks);
  }
  return resp;
}

void Pipeline::Shutdown() {
  std::vector<std::shared_ptr<Call>> calls;
  {
    std::lock_guard lock(impl_->mu);
    for (auto& [ptr, weak] : impl_->live) {
      if (auto c = weak.lock()) calls.push_back(std::move(c));
    }
  }
  for (auto& c : calls) c->Cancel();
  calls.clear();
  std::unique_ptr<ThreadPool> pool;
  {
    std::unique_lock lock(impl_->mu);
    if (!impl_->cv.wait_for(lock, std::chrono::seconds(5),
                            [&] { return impl_->live.empty() && impl_->cancels_in_flight == 0; })) {
      Logger("conductor")
          ->warn("{} requests / {} cancels still in flight at shutdown", impl_->live.size(),
                 impl_->cancels_in_flight);
    }
    pool = std::move(impl_->pool);
  }
  pool.reset();  // runs what is queued (cancelled calls return at once), joins
}

}  // namespace kvc::conductor

#include "kvc/conductor/http_frontend.h"

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "kvc/common/json.h"
#include "kvc/common/logging.h"
#include "kvc/conductor/client_id.h"
#include "kvc/conductor/openai_api.h"
#include "kvc/rpc/auth.h"

namespace kvc::conductor {
namespace {

using nlohmann::json;
using WriterPtr = std::shared_ptr<http::ResponseWriter>;

void Error(const WriterPtr& w, int status, const std::string& message, const std::string& type,
           const std::string& code, const http::Headers& extra = {}) {
  w->Respond(status, "application/json", http::OpenAiErrorBody(message, type, code), extra);
}

bool Authorized(const FrontendContext& c, const http::Request& r) {
  if (c.options->api_keys.empty()) return true;
  const std::string header = r.Header("authorization");
  for (const auto& key : c.options->api_keys) {
    if (BearerMatches(header, key)) return true;
  }
  return false;
}

std::string ErrorType(int status) {
  switch (status) {
    case 400:
    case 404:
      return "invalid_request_error";
    case 429:
      return "rate_limit_error";
    default:
      return "server_error";
  }
}

std::string ErrorCode(const Status& s) {
  std::string reason = ReasonOf(s);
  if (reason.empty()) reason = std::string(absl::StatusCodeToString(s.code()));
  return absl::AsciiStrToLower(reason);
}

// Streams (or collects) one request's events as OpenAI responses.
class HttpSink : public GenerationSink {
 public:
  HttpSink(openai::GenerationRequest request, openai::ResponseIds ids, WriterPtr writer,
           uint32_t retry_after_s)
      : request_(std::move(request)),
        ids_(std::move(ids)),
        w_(std::move(writer)),
        retry_after_(std::to_string(retry_after_s)) {}

  void OnStart(const std::string& request_id, const std::string& prefill,
               const std::string& decode) override {
    if (request_.stream) {
      w_->StartEventStream({{"X-Request-Id", request_id},
                            {"X-Kvc-Prefill-Node", prefill},
                            {"X-Kvc-Decode-Node", decode}});
    }
    headers_ = {{"X-Request-Id", request_id},
                {"X-Kvc-Prefill-Node", prefill},
                {"X-Kvc-Decode-Node", decode}};
  }
  void OnText(const std::string& text, const std::vector<uint32_t>&) override {
    if (!request_.stream) {
      text_ += text;
      return;
    }
    if (text.empty() && !first_) return;
    w_->SendEvent(openai::RenderChunk(request_, ids_, text, "", first_));
    first_ = false;
  }
  void OnFinish(const GenerationResult& r) override {
    if (!request_.stream) {
      w_->Respond(200, "application/json",
                  openai::RenderResponse(request_, ids_, text_, r.finish_reason, r.usage),
                  headers_);
      return;
    }
    w_->SendEvent(openai::RenderChunk(request_, ids_, "", r.finish_reason, first_));
    if (request_.include_usage) w_->SendEvent(openai::RenderUsageChunk(request_, ids_, r.usage));
    w_->SendEvent("[DONE]");
    w_->End();
  }
  void OnError(const Status& s, bool started) override {
    const int status = started ? 500 : HttpStatusOf(s);
    const std::string message(s.message());
    if (started && request_.stream) {
      w_->SendEvent(http::OpenAiErrorBody(message, "server_error", ErrorCode(s)));
      w_->End();
      return;
    }
    http::Headers extra;
    if (status == 429 || status == 503) extra.emplace_back("Retry-After", retry_after_);
    Error(w_, status, message, ErrorType(status), ErrorCode(s), extra);
  }

 private:
  const openai::GenerationRequest request_;
  const openai::ResponseIds ids_;
  const WriterPtr w_;
  const std::string retry_after_;
  http::Headers headers_;
  std::string text_;   // non-streamed responses
  bool first_ = true;  // no chunk sent yet
};

void HandleGeneration(const FrontendContext& c, const http::Request& r, const WriterPtr& w,
                      bool chat) {
  if (!Authorized(c, r)) {
    return Error(w, 401, "invalid or missing API key (Authorization: Bearer <key>)",
                 "invalid_request_error", "invalid_api_key");
  }
  auto parsed =
      chat ? openai::ParseChatCompletionRequest(r.body) : openai::ParseCompletionRequest(r.body);
  if (!parsed.ok()) {
    return Error(w, 400, std::string(parsed.status().message()), "invalid_request_error",
                 "invalid_request");
  }
  if (parsed->model != c.model->id()) {
    return Error(
        w, 404,
        "model '" + parsed->model + "' does not exist; this cluster serves '" + c.model->id() + "'",
        "invalid_request_error", "model_not_found");
  }
  parsed->client_id = ClientId(c.options->api_keys, r.Header("authorization"), r.remote_address);
  c.counters->requests.Increment();
  if (!parsed->user.empty()) {
    static auto log = Logger("conductor");
    log->info("request from user '{}' (client {})", parsed->user, parsed->client_id);
  }
  openai::ResponseIds ids;
  static std::atomic<uint64_t> counter{0};
  ids.id = std::string(chat ? "chatcmpl-" : "cmpl-") + std::to_string(c.clock->UnixMillis()) + "-" +
           std::to_string(++counter);
  ids.created = c.clock->UnixMillis() / 1000;
  ids.model = c.model->id();
  auto sink = std::make_shared<HttpSink>(*parsed, ids, w, c.options->retry_after_s);
  std::weak_ptr<RequestHandle> handle = c.pipeline->Start(*std::move(parsed), std::move(sink));
  w->OnDisconnect([handle] {
    if (auto h = handle.lock()) h->Cancel();
  });
}

// True (after answering 401/404) unless the request may go on.
bool RefuseTokenize(const FrontendContext& c, const WriterPtr& w, const std::string& model) {
  if (!model.empty() && model != c.model->id()) {
    Error(w, 404,
          "model '" + model + "' does not exist; this cluster serves '" + c.model->id() + "'",
          "invalid_request_error", "model_not_found");
    return true;
  }
  return false;
}

// POST /tokenize: {"count", "max_model_len", "tokens"}, the ids a generation request with
// the same prompt or messages would run on.
void HandleTokenize(const FrontendContext& c, const http::Request& r, const WriterPtr& w) {
  if (!Authorized(c, r)) {
    return Error(w, 401, "invalid or missing API key", "invalid_request_error", "invalid_api_key");
  }
  auto t = openai::ParseTokenizeRequest(r.body);
  if (!t.ok()) {
    return Error(w, 400, std::string(t.status().message()), "invalid_request_error",
                 "invalid_request");
  }
  if (RefuseTokenize(c, w, t->model)) return;
  StatusOr<std::vector<uint32_t>> ids = std::vector<uint32_t>();
  if (t->chat) {
    ids = c.model->ChatTokens(t->messages, t->add_generation_prompt);
  } else {
    ids = c.model->TextTokens(t->prompt);
    if (!t->add_special_tokens && !ids->empty() && c.model->config().bos_token_id >= 0) {
      ids->erase(ids->begin());
    }
  }
  if (!ids.ok()) {
    return Error(w, 400, std::string(ids.status().message()), "invalid_request_error",
                 "invalid_request");
  }
  json body = {
      {"count", ids->size()}, {"max_model_len", c.model->context_tokens()}, {"tokens", *ids}};
  w->Respond(200, "application/json", kvc::DumpJson(body));
}

// POST /detokenize: {"prompt": the text of the ids}.
void HandleDetokenize(const FrontendContext& c, const http::Request& r, const WriterPtr& w) {
  if (!Authorized(c, r)) {
    return Error(w, 401, "invalid or missing API key", "invalid_request_error", "invalid_api_key");
  }
  auto d = openai::ParseDetokenizeRequest(r.body);
  if (!d.ok()) {
    return Error(w, 400, std::string(d.status().message()), "invalid_request_error",
                 "invalid_request");
  }
  if (RefuseTokenize(c, w, d->model)) return;
  const int64_t vocab = c.model->tokenizer().vocab_size();
  for (int32_t id : d->tokens) {
    if (id >= vocab) {
      return Error(w, 400,
                   "token id " + std::to_string(id) + " is outside the vocabulary (size " +
                       std::to_string(vocab) + ")",
                   "invalid_request_error", "invalid_request");
    }
  }
  json body = {{"prompt", c.model->tokenizer().Decode(d->tokens)}};
  w->Respond(200, "application/json", kvc::DumpJson(body));
}

std::string RoleName(kvc::v1::NodeRole role) {
  std::string name = kvc::v1::NodeRole_Name(role);
  return absl::AsciiStrToLower(name.substr(name.rfind('_') + 1));
}

}  // namespace

int HttpStatusOf(const Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

void UpdateNodeGauges(const membership::MembershipView& members, MetricsRegistry& metrics) {
  std::map<std::pair<std::string, std::string>, int> counts;
  for (const char* role : {"prefill", "decode", "store"}) {
    for (const char* state : {"up", "draining", "down", "mismatch"}) counts[{role, state}] = 0;
  }
  for (const auto& n : members.List()) {
    const std::string role = RoleName(n.role());
    counts[{role, n.state()}]++;
    const Labels l = {{"node", n.node_id()}, {"role", role}};
    const auto& load = n.load();
    metrics.GetGauge("kvc_conductor_node_free_kv_blocks", "Free KV blocks a node reported.", l)
        .Set(static_cast<double>(load.free_kv_blocks()));
    metrics.GetGauge("kvc_conductor_node_total_kv_blocks", "KV blocks of a node.", l)
        .Set(static_cast<double>(load.total_kv_blocks()));
    metrics
        .GetGauge("kvc_conductor_node_quarantined_kv_blocks",
                  "KV blocks a decode node holds in quarantine (freed reservations that a late "
                  "prefill write could still reach).",
                  l)
        .Set(static_cast<double>(load.quarantined_kv_blocks()));
    metrics.GetGauge("kvc_conductor_node_queued_requests", "Requests queued on a node.", l)
        .Set(load.queued_requests());
    metrics
        .GetGauge("kvc_conductor_node_queued_prefill_tokens", "Prompt tokens queued on a node.", l)
        .Set(static_cast<double>(load.queued_prefill_tokens()));
    metrics.GetGauge("kvc_conductor_node_running_requests", "Requests running on a node.", l)
        .Set(load.running_requests());
    metrics.GetGauge("kvc_conductor_node_up", "1 when the node is up, else 0.", l)
        .Set(n.state() == "up" ? 1 : 0);
  }
  for (const auto& [key, count] : counts) {
    metrics
        .GetGauge("kvc_conductor_nodes", "Registered worker nodes by role and state.",
                  {{"role", key.first}, {"state", key.second}})
        .Set(count);
  }
}

void RegisterHttpRoutes(http::HttpServer& server, FrontendContext c) {
  // Readiness: 200 only when this conductor can place a request right now.
  server.Route("GET", "/health", [c](const http::Request&, WriterPtr w) {
    const size_t prefill_up = c.members->Available(kvc::v1::NODE_ROLE_PREFILL).size();
    const size_t decode_up = c.members->Available(kvc::v1::NODE_ROLE_DECODE).size();
    const char* status = c.pipeline->draining() ? "draining"
                         : prefill_up == 0      ? "no_prefill_nodes"
                         : decode_up == 0       ? "no_decode_nodes"
                                                : "ok";
    json body = {{"status", status},
                 {"model", c.model->id()},
                 {"prefill_nodes_up", prefill_up},
                 {"decode_nodes_up", decode_up}};
    w->Respond(std::string_view(status) == "ok" ? 200 : 503, "application/json",
               kvc::DumpJson(body));
  });
  // Liveness: the process and its HTTP loop answer; nothing else is checked.
  server.Route("GET", "/livez", [](const http::Request&, WriterPtr w) {
    w->Respond(200, "text/plain; charset=utf-8", "ok\n");
  });
  server.Route("GET", "/metrics", [c](const http::Request&, WriterPtr w) {
    UpdateNodeGauges(*c.members, *c.metrics);
    w->Respond(200, "text/plain; version=0.0.4", c.metrics->RenderPrometheus());
  });
  server.Route("GET", "/v1/models", [c](const http::Request& r, WriterPtr w) {
    if (!Authorized(c, r)) {
      return Error(w, 401, "invalid or missing API key", "invalid_request_error",
                   "invalid_api_key");
    }
    w->Respond(
        200, "application/json",
        openai::RenderModelList({{c.model->id(), c.model->root(), c.model->context_tokens()}},
                                c.clock->UnixMillis() / 1000));
  });
  server.Route("POST", "/v1/chat/completions", [c](const http::Request& r, WriterPtr w) {
    HandleGeneration(c, r, w, /*chat=*/true);
  });
  server.Route("POST", "/v1/completions", [c](const http::Request& r, WriterPtr w) {
    HandleGeneration(c, r, w, /*chat=*/false);
  });
  server.Route("POST", "/tokenize",
               [c](const http::Request& r, WriterPtr w) { HandleTokenize(c, r, w); });
  server.Route("POST", "/detokenize",
               [c](const http::Request& r, WriterPtr w) { HandleDetokenize(c, r, w); });
}

}  // namespace kvc::conductor

#include "kvc/conductor/http_frontend.h"

#include <nlohmann/json.hpp>

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

void UpdateNodeGauges(const FrontendContext& c) {
  std::map<std::pair<std::string, std::string>, int> counts;
  for (const char* role : {"prefill", "decode", "store"}) {
    for (const char* state : {"up", "draining", "down"}) counts[{role, state}] = 0;
  }
  for (const auto& n : c.registry->List()) {
    std::string role = kvc::v1::NodeRole_Name(n.role());
    role = role.substr(role.rfind('_') + 1);
    for (auto& ch : role) ch = static_cast<char>(std::tolower(ch));
    counts[{role, n.state()}]++;
  }
  for (const auto& [key, count] : counts) {
    c.metrics
        ->GetGauge("kvc_conductor_nodes", "Registered worker nodes by role and state.",
                   {{"role", key.first}, {"state", key.second}})
        .Set(count);
  }
}

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
  if (parsed->model != c.options->served_model) {
    return Error(w, 404,
                 "model '" + parsed->model + "' does not exist; this cluster serves '" +
                     c.options->served_model + "'",
                 "invalid_request_error", "model_not_found");
  }
  c.counters->requests.Increment();
  const bool prefill_up = !c.registry->Available(kvc::v1::NODE_ROLE_PREFILL).empty();
  const bool decode_up = !c.registry->Available(kvc::v1::NODE_ROLE_DECODE).empty();
  if (!prefill_up || !decode_up) {
    c.counters->failed.Increment();
    return Error(w, 503,
                 std::string("no ") + (!prefill_up ? "prefill" : "decode") +
                     " node is up; start workers or undrain one (kvcctl nodes)",
                 "server_error", "no_nodes_available", {{"Retry-After", "1"}});
  }
  c.counters->failed.Increment();
  Error(w, 501, "generation is not built yet in this version of kvc (serving issue)",
        "server_error", "not_implemented");
}

}  // namespace

void RegisterHttpRoutes(http::HttpServer& server, FrontendContext c) {
  server.Route("GET", "/health", [c](const http::Request&, WriterPtr w) {
    json body = {{"status", "ok"},
                 {"prefill_nodes_up", c.registry->Available(kvc::v1::NODE_ROLE_PREFILL).size()},
                 {"decode_nodes_up", c.registry->Available(kvc::v1::NODE_ROLE_DECODE).size()}};
    w->Respond(200, "application/json", body.dump());
  });
  server.Route("GET", "/metrics", [c](const http::Request&, WriterPtr w) {
    UpdateNodeGauges(c);
    w->Respond(200, "text/plain; version=0.0.4", c.metrics->RenderPrometheus());
  });
  server.Route("GET", "/v1/models", [c](const http::Request& r, WriterPtr w) {
    if (!Authorized(c, r)) {
      return Error(w, 401, "invalid or missing API key", "invalid_request_error",
                   "invalid_api_key");
    }
    w->Respond(200, "application/json",
               openai::RenderModelList({c.options->served_model}, c.clock->UnixMillis() / 1000));
  });
  server.Route("POST", "/v1/chat/completions", [c](const http::Request& r, WriterPtr w) {
    HandleGeneration(c, r, w, /*chat=*/true);
  });
  server.Route("POST", "/v1/completions", [c](const http::Request& r, WriterPtr w) {
    HandleGeneration(c, r, w, /*chat=*/false);
  });
}

}  // namespace kvc::conductor

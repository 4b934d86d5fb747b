// Rendering of OpenAI-style responses and stream chunks.
#include <nlohmann/json.hpp>

#include "kvc/common/json.h"
#include "kvc/conductor/openai_api.h"

namespace kvc::openai {
namespace {

using json = nlohmann::json;

bool IsChat(const GenerationRequest& r) { return r.endpoint == GenerationRequest::Endpoint::kChat; }

json UsageJson(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}}};
}

json Envelope(const GenerationRequest& r, const ResponseIds& ids, bool chunk) {
  const char* object =
      IsChat(r) ? (chunk ? "chat.completion.chunk" : "chat.completion") : "text_completion";
  return {{"id", ids.id}, {"object", object}, {"created", ids.created}, {"model", ids.model}};
}

json FinishReason(const std::string& reason) {
  return reason.empty() ? json(nullptr) : json(reason);
}

}  // namespace

std::string RenderChunk(const GenerationRequest& r, const ResponseIds& ids, const std::string& text,
                        const std::string& finish_reason, bool first) {
  json out = Envelope(r, ids, /*chunk=*/true);
  json choice = {{"index", 0}, {"finish_reason", FinishReason(finish_reason)}};
  if (IsChat(r)) {
    json delta = json::object();
    if (first) delta["role"] = "assistant";
    if (!text.empty() || !finish_reason.empty() || first) delta["content"] = text;
    choice["delta"] = delta;
    choice["logprobs"] = nullptr;
  } else {
    choice["text"] = text;
    choice["logprobs"] = nullptr;
  }
  out["choices"] = json::array({choice});
  if (r.include_usage) out["usage"] = nullptr;
  return kvc::DumpJson(out);
}

std::string RenderUsageChunk(const GenerationRequest& r, const ResponseIds& ids,
                             const Usage& usage) {
  json out = Envelope(r, ids, /*chunk=*/true);
  out["choices"] = json::array();
  out["usage"] = UsageJson(usage);
  return kvc::DumpJson(out);
}

std::string RenderResponse(const GenerationRequest& r, const ResponseIds& ids,
                           const std::string& text, const std::string& finish_reason,
                           const Usage& usage) {
  json out = Envelope(r, ids, /*chunk=*/false);
  json choice = {
      {"index", 0}, {"finish_reason", FinishReason(finish_reason)}, {"logprobs", nullptr}};
  if (IsChat(r)) {
    choice["message"] = {{"role", "assistant"}, {"content", text}};
  } else {
    choice["text"] = text;
  }
  out["choices"] = json::array({choice});
  out["usage"] = UsageJson(usage);
  return kvc::DumpJson(out);
}

std::string RenderModelList(const std::vector<ModelCard>& models, int64_t created) {
  json data = json::array();
  for (const auto& m : models) {
    data.push_back({{"id", m.id},
                    {"object", "model"},
                    {"created", created},
                    {"owned_by", "kvc"},
                    {"root", m.root},
                    {"max_model_len", m.max_model_len}});
  }
  return kvc::DumpJson(json{{"object", "list"}, {"data", data}});
}

}  // namespace kvc::openai

// Parsing and validation of OpenAI-style request bodies.
#include <algorithm>
#include <initializer_list>
#include <limits>
#include <nlohmann/json.hpp>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "kvc/conductor/openai_api.h"

namespace kvc::openai {
namespace {

using json = nlohmann::json;

Status Invalid(const std::string& message) { return absl::InvalidArgumentError(message); }

StatusOr<json> ParseObject(const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Invalid("request body is not valid JSON");
  if (!j.is_object()) return Invalid("request body must be a JSON object");
  return j;
}

Status ReadNumber(const json& j, const char* field, double lo, double hi, double* out) {
  if (!j.contains(field) || j[field].is_null()) return Status();
  if (!j[field].is_number()) return Invalid(absl::StrCat(field, " must be a number"));
  const double v = j[field].get<double>();
  if (v < lo || v > hi) {
    return Invalid(absl::StrCat(field, " must be between ", lo, " and ", hi, ", got ", v));
  }
  *out = v;
  return Status();
}

Status ReadBool(const json& j, const char* field, bool* out) {
  if (!j.contains(field) || j[field].is_null()) return Status();
  if (!j[field].is_boolean()) return Invalid(absl::StrCat(field, " must be true or false"));
  *out = j[field].get<bool>();
  return Status();
}

Status ReadMaxTokens(const json& j, GenerationRequest* r) {
  for (const char* field : {"max_completion_tokens", "max_tokens"}) {
    if (!j.contains(field) || j[field].is_null()) continue;
    if (!j[field].is_number_integer()) return Invalid(absl::StrCat(field, " must be an integer"));
    const int64_t v = j[field].get<int64_t>();
    if (v < 1 || v > std::numeric_limits<uint32_t>::max()) {
      return Invalid(absl::StrCat(field, " must be >= 1, got ", v));
    }
    r->max_tokens = static_cast<uint32_t>(v);
  }
  return Status();
}

Status ReadStop(const json& j, GenerationRequest* r) {
  if (!j.contains("stop") || j["stop"].is_null()) return Status();
  const json& s = j["stop"];
  if (s.is_string()) {
    if (!s.get<std::string>().empty()) r->stop.push_back(s.get<std::string>());
    return Status();
  }
  if (!s.is_array()) return Invalid("stop must be a string or an array of strings");
  if (s.size() > 4) return Invalid(absl::StrCat("stop takes at most 4 sequences, got ", s.size()));
  for (const auto& item : s) {
    if (!item.is_string()) return Invalid("stop must be a string or an array of strings");
    if (!item.get<std::string>().empty()) r->stop.push_back(item.get<std::string>());
  }
  return Status();
}

// A field kvc does not implement is accepted only with the value that means "off"
// (null, or e.g. presence_penalty 0), so nothing a client asks for is silently ignored.
bool IsNeutral(const std::string& field, const json& v) {
  if (v.is_null()) return true;
  if (field == "presence_penalty" || field == "frequency_penalty")
    return v.is_number() && v.get<double>() == 0.0;
  if (field == "repetition_penalty") return v.is_number() && v.get<double>() == 1.0;
  if (field == "logprobs" || field == "echo") return v.is_boolean() && !v.get<bool>();
  if (field == "min_tokens") return v.is_number_integer() && v.get<int64_t>() == 0;
  if (field == "logit_bias" || field == "stop_token_ids" || field == "tools")
    return (v.is_object() || v.is_array()) && v.empty();
  if (field == "tool_choice") return v.is_string() && v.get<std::string>() == "none";
  if (field == "best_of") return v.is_number_integer() && v.get<int64_t>() == 1;
  return false;
}

// 400 naming the first field outside `allowed` (vLLM's extra="forbid" behaviour).
Status RejectUnknownFields(const json& j, std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, value] : j.items()) {
    if (std::find(allowed.begin(), allowed.end(), key) != allowed.end()) continue;
    if (IsNeutral(key, value)) continue;
    return Invalid(absl::StrCat("unsupported field '", key,
                                "': kvc does not implement it; remove it from the request"));
  }
  return Status();
}

// Fields both endpoints share.
Status ReadCommon(const json& j, GenerationRequest* r) {
  if (!j.contains("model") || !j["model"].is_string() || j["model"].get<std::string>().empty()) {
    return Invalid("model is required (a string; GET /v1/models lists them)");
  }
  r->model = j["model"].get<std::string>();
  KVC_RETURN_IF_ERROR(ReadMaxTokens(j, r));
  KVC_RETURN_IF_ERROR(ReadNumber(j, "temperature", 0.0, 2.0, &r->temperature));
  KVC_RETURN_IF_ERROR(ReadNumber(j, "top_p", 0.0, 1.0, &r->top_p));
  if (j.contains("top_p") && j["top_p"].is_number() && r->top_p <= 0.0) {
    return Invalid("top_p must be greater than 0");
  }
  if (j.contains("top_k") && !j["top_k"].is_null()) {
    if (!j["top_k"].is_number_integer() || j["top_k"].get<int64_t>() < -1) {
      return Invalid("top_k must be an integer >= -1 (-1 or 0 = off)");
    }
    r->top_k = static_cast<uint32_t>(std::max<int64_t>(0, j["top_k"].get<int64_t>()));
  }
  if (j.contains("seed") && !j["seed"].is_null()) {
    if (!j["seed"].is_number_integer()) return Invalid("seed must be an integer");
    r->seed = static_cast<uint64_t>(j["seed"].get<int64_t>());
  }
  if (j.contains("n") && !j["n"].is_null()) {
    if (!j["n"].is_number_integer() || j["n"].get<int64_t>() != 1) {
      return Invalid("n must be 1 (kvc returns one choice per request)");
    }
  }
  KVC_RETURN_IF_ERROR(ReadStop(j, r));
  KVC_RETURN_IF_ERROR(ReadBool(j, "ignore_eos", &r->ignore_eos));
  KVC_RETURN_IF_ERROR(ReadBool(j, "stream", &r->stream));
  if (j.contains("user") && !j["user"].is_null()) {
    if (!j["user"].is_string()) return Invalid("user must be a string");
    r->user = j["user"].get<std::string>();
  }
  if (j.contains("stream_options") && !j["stream_options"].is_null()) {
    if (!j["stream_options"].is_object()) return Invalid("stream_options must be an object");
    for (const auto& [key, value] : j["stream_options"].items()) {
      if (key != "include_usage") return Invalid("unsupported field 'stream_options." + key + "'");
    }
    if (!r->stream) return Invalid("stream_options is only allowed when stream is true");
    KVC_RETURN_IF_ERROR(ReadBool(j["stream_options"], "include_usage", &r->include_usage));
  }
  return Status();
}

// Message content: a string, or an array of {"type":"text","text":...} parts.
StatusOr<std::string> ReadContent(const json& m, size_t index) {
  const std::string where = absl::StrCat("messages[", index, "].content");
  if (!m.contains("content") || m["content"].is_null()) return std::string();
  const json& c = m["content"];
  if (c.is_string()) return c.get<std::string>();
  if (!c.is_array()) return Invalid(where + " must be a string or an array of text parts");
  std::string out;
  for (size_t i = 0; i < c.size(); ++i) {
    const json& part = c[i];
    const std::string at = absl::StrCat(where, "[", i, "]");
    if (!part.is_object())
      return Invalid(at + " must be an object {\"type\":\"text\",\"text\":...}");
    // Checked before reading: json::value() throws when "type" is not a string.
    if (!part.contains("type") || !part["type"].is_string()) {
      return Invalid(at + ".type must be a string (only \"text\" parts are supported)");
    }
    if (part["type"].get<std::string>() != "text") {
      return Invalid(at + ".type: only \"text\" parts are supported");
    }
    if (!part.contains("text") || !part["text"].is_string()) {
      return Invalid(at + ".text must be a string");
    }
    out += part["text"].get<std::string>();
  }
  return out;
}

// messages: a non-empty array of {role, content}; nothing else in a message.
Status ReadMessages(const json& j, GenerationRequest* r) {
  if (!j.contains("messages") || !j["messages"].is_array() || j["messages"].empty()) {
    return Invalid("messages is required: a non-empty array of {role, content}");
  }
  size_t i = 0;
  for (const auto& m : j["messages"]) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
      return Invalid(absl::StrCat("messages[", i, "] needs a string role"));
    }
    for (const auto& [key, value] : m.items()) {
      if (key != "role" && key != "content" && !value.is_null()) {
        return Invalid(absl::StrCat("unsupported field 'messages[", i, "].", key, "'"));
      }
    }
    const std::string role = m["role"].get<std::string>();
    KVC_ASSIGN_OR_RETURN(std::string content, ReadContent(m, i));
    r->messages.push_back({role, std::move(content)});
    ++i;
  }
  return Status();
}

}  // namespace

StatusOr<GenerationRequest> ParseChatCompletionRequest(const std::string& body) {
  KVC_ASSIGN_OR_RETURN(json j, ParseObject(body));
  GenerationRequest r;
  r.endpoint = GenerationRequest::Endpoint::kChat;
  KVC_RETURN_IF_ERROR(RejectUnknownFields(
      j, {"model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p",
          "top_k", "seed", "n", "stop", "ignore_eos", "stream", "stream_options", "user"}));
  KVC_RETURN_IF_ERROR(ReadCommon(j, &r));
  KVC_RETURN_IF_ERROR(ReadMessages(j, &r));
  KVC_RETURN_IF_ERROR(ValidateGenerationRequest(&r));
  return r;
}

Status ValidateGenerationRequest(GenerationRequest* r) {
  if (r->endpoint == GenerationRequest::Endpoint::kChat) {
    if (r->messages.empty()) return Invalid("messages must not be empty");
    for (size_t i = 0; i < r->messages.size(); ++i) {
      std::string& role = r->messages[i].role;
      if (role != "system" && role != "user" && role != "assistant" && role != "tool" &&
          role != "developer") {
        return Invalid(absl::StrCat("messages[", i, "].role '", role,
                                    "' is not one of system, developer, user, assistant, tool"));
      }
      if (role == "developer") role = "system";
    }
  } else if (r->prompt_is_tokens ? r->prompt_tokens.empty() : r->prompt_text.empty()) {
    return Invalid("the prompt must not be empty");
  }
  std::erase(r->stop, std::string());
  if (r->stop.size() > 4) {
    return Invalid(absl::StrCat("stop takes at most 4 sequences, got ", r->stop.size()));
  }
  if (!(r->temperature >= 0 && r->temperature <= 2)) {
    return Invalid(absl::StrCat("temperature must be between 0 and 2, got ", r->temperature));
  }
  if (!(r->top_p > 0 && r->top_p <= 1)) {
    return Invalid(absl::StrCat("top_p must be greater than 0 and at most 1, got ", r->top_p));
  }
  if (r->max_tokens && *r->max_tokens < 1) return Invalid("max_tokens must be >= 1");
  return Status();
}

StatusOr<TokenizeRequest> ParseTokenizeRequest(const std::string& body) {
  KVC_ASSIGN_OR_RETURN(json j, ParseObject(body));
  KVC_RETURN_IF_ERROR(RejectUnknownFields(
      j, {"model", "prompt", "messages", "add_generation_prompt", "add_special_tokens"}));
  TokenizeRequest t;
  if (j.contains("model") && !j["model"].is_null()) {
    if (!j["model"].is_string()) return Invalid("model must be a string");
    t.model = j["model"].get<std::string>();
  }
  const bool has_prompt = j.contains("prompt") && !j["prompt"].is_null();
  if (has_prompt == (j.contains("messages") && !j["messages"].is_null())) {
    return Invalid("give exactly one of prompt (a string) or messages");
  }
  if (has_prompt) {
    if (!j["prompt"].is_string()) return Invalid("prompt must be a string");
    t.prompt = j["prompt"].get<std::string>();
    if (j.contains("add_generation_prompt") && !j["add_generation_prompt"].is_null())
      return Invalid("add_generation_prompt is only allowed with messages");
  } else {
    GenerationRequest r;  // the chat endpoint's message and role checks, without re-parsing
    r.endpoint = GenerationRequest::Endpoint::kChat;
    KVC_RETURN_IF_ERROR(ReadMessages(j, &r));
    KVC_RETURN_IF_ERROR(ValidateGenerationRequest(&r));
    t.messages = std::move(r.messages);
    t.chat = true;
    KVC_RETURN_IF_ERROR(ReadBool(j, "add_generation_prompt", &t.add_generation_prompt));
  }
  t.add_special_tokens = !t.chat;  // vLLM's defaults: BOS for a prompt, none for chat
  KVC_RETURN_IF_ERROR(ReadBool(j, "add_special_tokens", &t.add_special_tokens));
  return t;
}

StatusOr<DetokenizeRequest> ParseDetokenizeRequest(const std::string& body) {
  KVC_ASSIGN_OR_RETURN(json j, ParseObject(body));
  KVC_RETURN_IF_ERROR(RejectUnknownFields(j, {"model", "tokens"}));
  DetokenizeRequest d;
  if (j.contains("model") && !j["model"].is_null()) {
    if (!j["model"].is_string()) return Invalid("model must be a string");
    d.model = j["model"].get<std::string>();
  }
  if (!j.contains("tokens") || !j["tokens"].is_array())
    return Invalid("tokens is required: an array of token ids");
  for (const auto& t : j["tokens"]) {
    if (!t.is_number_integer() || t.get<int64_t>() < 0 ||
        t.get<int64_t>() > std::numeric_limits<int32_t>::max()) {
      return Invalid("tokens must be non-negative integers");
    }
    d.tokens.push_back(static_cast<int32_t>(t.get<int64_t>()));
  }
  return d;
}

StatusOr<GenerationRequest> ParseCompletionRequest(const std::string& body) {
  KVC_ASSIGN_OR_RETURN(json j, ParseObject(body));
  GenerationRequest r;
  r.endpoint = GenerationRequest::Endpoint::kCompletion;
  KVC_RETURN_IF_ERROR(RejectUnknownFields(
      j, {"model", "prompt", "max_tokens", "temperature", "top_p", "top_k", "seed", "n", "stop",
          "ignore_eos", "stream", "stream_options", "user"}));
  KVC_RETURN_IF_ERROR(ReadCommon(j, &r));
  if (!r.max_tokens) r.max_tokens = 16;  // the OpenAI default for /v1/completions
  if (!j.contains("prompt"))
    return Invalid("prompt is required: a string or an array of token ids");
  const json& p = j["prompt"];
  if (p.is_string()) {
    r.prompt_text = p.get<std::string>();
  } else if (p.is_array() && !p.empty() && p[0].is_number_integer()) {
    r.prompt_is_tokens = true;
    for (const auto& t : p) {
      if (!t.is_number_integer() || t.get<int64_t>() < 0 ||
          t.get<int64_t>() > std::numeric_limits<uint32_t>::max()) {
        return Invalid("prompt token ids must be non-negative integers");
      }
      r.prompt_tokens.push_back(static_cast<uint32_t>(t.get<int64_t>()));
    }
  } else if (p.is_array() && p.size() == 1 && p[0].is_string()) {
    r.prompt_text = p[0].get<std::string>();
  } else {
    return Invalid(
        "prompt must be a string, a one-element array of strings, or an array of token ids "
        "(batched prompts are not supported)");
  }
  if (!r.prompt_is_tokens && r.prompt_text.empty()) return Invalid("prompt must not be empty");
  KVC_RETURN_IF_ERROR(ValidateGenerationRequest(&r));
  return r;
}

}  // namespace kvc::openai

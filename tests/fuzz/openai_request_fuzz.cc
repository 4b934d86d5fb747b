// Fuzz target: the OpenAI request parsers (conductor/openai/openai_request.cc).
// Every input is parsed as a /v1/chat/completions and as a /v1/completions body.
// Checked: no crash, no exception, no sanitizer report; an accepted request obeys
// the documented limits; a response rendered for it is valid JSON that carries
// the text back unchanged (valid UTF-8) or repaired (invalid UTF-8).
#include <nlohmann/json.hpp>
#include <string>

#include "kvc/common/utf8.h"
#include "kvc/conductor/openai_api.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using kvc::openai::GenerationRequest;

void CheckAccepted(const GenerationRequest& r) {
  KVC_FUZZ_CHECK(!r.model.empty(), "accepted request without a model");
  KVC_FUZZ_CHECK(r.temperature >= 0.0 && r.temperature <= 2.0, "temperature out of range");
  KVC_FUZZ_CHECK(r.top_p > 0.0 && r.top_p <= 1.0, "top_p out of range");
  KVC_FUZZ_CHECK(!r.max_tokens || *r.max_tokens >= 1, "max_tokens 0 accepted");
  KVC_FUZZ_CHECK(r.stop.size() <= 4, "more than 4 stop sequences");
  for (const auto& s : r.stop) KVC_FUZZ_CHECK(!s.empty(), "empty stop sequence kept");
  KVC_FUZZ_CHECK(!r.include_usage || r.stream, "include_usage without stream");
  if (r.endpoint == GenerationRequest::Endpoint::kChat) {
    KVC_FUZZ_CHECK(!r.messages.empty(), "chat request without messages");
    for (const auto& m : r.messages) {
      KVC_FUZZ_CHECK(
          m.role == "system" || m.role == "user" || m.role == "assistant" || m.role == "tool",
          "unexpected role " + m.role);
    }
  } else {
    KVC_FUZZ_CHECK(r.prompt_is_tokens ? !r.prompt_tokens.empty() : !r.prompt_text.empty(),
                   "completion request without a prompt");
  }
  // Render a response carrying user-controlled text and read it back.
  const std::string text =
      r.endpoint == GenerationRequest::Endpoint::kChat ? r.messages.back().content : r.prompt_text;
  const kvc::openai::ResponseIds ids{"id-" + r.model, 1, r.model};
  const std::string body = kvc::openai::RenderResponse(r, ids, text, "stop", {3, 4, 1});
  auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  KVC_FUZZ_CHECK(j.is_object(), "rendered response is not a JSON object");
  auto& choice = j["choices"][0];
  auto& got = r.endpoint == GenerationRequest::Endpoint::kChat ? choice["message"]["content"]
                                                               : choice["text"];
  KVC_FUZZ_CHECK(got.is_string() && got.get<std::string>() == kvc::ToValidUtf8(text),
                 "response text did not round-trip");
  KVC_FUZZ_CHECK(j["model"].get<std::string>() == kvc::ToValidUtf8(r.model), "model changed");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  auto chat = kvc::openai::ParseChatCompletionRequest(body);
  if (chat.ok()) {
    CheckAccepted(*chat);
  } else {
    KVC_FUZZ_CHECK(chat.status().code() == absl::StatusCode::kInvalidArgument,
                   chat.status().ToString());
  }
  auto completion = kvc::openai::ParseCompletionRequest(body);
  if (completion.ok()) {
    CheckAccepted(*completion);
  } else {
    KVC_FUZZ_CHECK(completion.status().code() == absl::StatusCode::kInvalidArgument,
                   completion.status().ToString());
  }
  return 0;
}

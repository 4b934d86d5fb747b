// The OpenAI-compatible wire format of kvc's HTTP front door: parsing and
// validating /v1/chat/completions and /v1/completions bodies, and rendering
// responses, stream chunks, usage and errors. Pure functions, no I/O;
// thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kvc/common/status.h"

namespace kvc::openai {

struct ChatMessage {
  std::string role;  // system | user | assistant | tool
  std::string content;
};

// A validated generation request, whichever endpoint it came from.
struct GenerationRequest {
  enum class Endpoint { kChat, kCompletion };
  Endpoint endpoint = Endpoint::kChat;
  std::string model;
  std::vector<ChatMessage> messages;    // chat only
  std::string prompt_text;              // completion with a text prompt
  std::vector<uint32_t> prompt_tokens;  // completion with a token-id prompt
  bool prompt_is_tokens = false;
  std::optional<uint32_t> max_tokens;  // unset = until the context is full
  double temperature = 1.0;            // 0 = greedy
  double top_p = 1.0;
  uint32_t top_k = 0;  // 0 = off (extension, as in vLLM)
  std::optional<uint64_t> seed;
  std::vector<std::string> stop;
  bool ignore_eos = false;  // extension (vLLM's): EOS and chat end-of-turn ids don't stop
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  std::string user;            // the client's end-user id; logged with the request id
  // Not parsed: set by the front door (kvc/conductor/client_id.h) and sent with the
  // decode reservation, which bounds one client's KV quarantine by it.
  std::string client_id;
};

// Parse and validate a request body. Errors are INVALID_ARGUMENT with a message
// fit to show the user, naming the field ("max_tokens must be >= 1, got -5").
StatusOr<GenerationRequest> ParseChatCompletionRequest(const std::string& body);
StatusOr<GenerationRequest> ParseCompletionRequest(const std::string& body);

// The checks every entry (HTTP chat/completions and gRPC Conductor.Generate) applies to
// a request after reading it: roles (system, developer -> system, user, assistant,
// tool), non-empty prompt or messages, at most 4 non-empty stop strings (empty ones
// dropped), temperature in [0, 2], top_p in (0, 1], max_tokens >= 1. INVALID_ARGUMENT
// naming the field.
[[nodiscard]] Status ValidateGenerationRequest(GenerationRequest* request);

// POST /tokenize (vLLM's shape): {"model", "prompt"} or {"model", "messages",
// "add_generation_prompt"}, optional "add_special_tokens" (default: true for a prompt,
// i.e. BOS; false for messages, whose template writes its own).
struct TokenizeRequest {
  std::string model;  // "" = the served model
  std::string prompt;
  std::vector<ChatMessage> messages;
  bool chat = false;
  bool add_generation_prompt = true;
  bool add_special_tokens = true;
};
StatusOr<TokenizeRequest> ParseTokenizeRequest(const std::string& body);

// POST /detokenize: {"model", "tokens": [ids]} -> {"prompt": text}.
struct DetokenizeRequest {
  std::string model;
  std::vector<int32_t> tokens;
};
StatusOr<DetokenizeRequest> ParseDetokenizeRequest(const std::string& body);

struct Usage {
  uint32_t prompt_tokens = 0;
  uint32_t completion_tokens = 0;
  uint32_t cached_tokens = 0;  // prompt tokens whose KV came from the pool
};

// Identity of one response, shared by all its chunks.
struct ResponseIds {
  std::string id;       // "chatcmpl-..." or "cmpl-..."
  int64_t created = 0;  // Unix seconds
  std::string model;
};

// One streamed chunk (the JSON after "data: "). `finish_reason` empty = not last.
// `first` adds the assistant role to a chat delta.
std::string RenderChunk(const GenerationRequest& request, const ResponseIds& ids,
                        const std::string& text, const std::string& finish_reason, bool first);
// The final usage-only chunk sent when stream_options.include_usage is set.
std::string RenderUsageChunk(const GenerationRequest& request, const ResponseIds& ids,
                             const Usage& usage);
// A whole non-streamed response.
std::string RenderResponse(const GenerationRequest& request, const ResponseIds& ids,
                           const std::string& text, const std::string& finish_reason,
                           const Usage& usage);
// GET /v1/models.
// GET /v1/models, with vLLM's extra fields: the model's directory and context length.
struct ModelCard {
  std::string id;
  std::string root;           // the served model directory ("kvc-tiny" for the built-in)
  int64_t max_model_len = 0;  // prompt + generated tokens at most
};
std::string RenderModelList(const std::vector<ModelCard>& models, int64_t created);

}  // namespace kvc::openai

// A model's chat format: the Jinja `chat_template` the model ships (an override file,
// else DIR/chat_template.jinja, else tokenizer_config.json "chat_template", a string
// or a list of named templates of which "default" or the first is used), rendered as
// transformers does; a built-in family (chat_template.h) only when the model has none.
//
// Control tokens come only from the template: a special token's spelling becomes its
// id only where the template text (or bos_token/eos_token) wrote it, never inside
// message content. Immutable after Load; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "kvc/common/status.h"
#include "kvc/jinja/template.h"
#include "kvc/tokenizer/chat_template.h"
#include "kvc/tokenizer/tokenizer.h"

namespace kvc::tokenizer {

class ChatFormat {
 public:
  // Loads the chat format of model directory `dir` for `tokenizer`. A non-empty
  // `template_file` overrides the model's template (like vLLM's --chat-template).
  // NotFound for a missing override file, InvalidArgument for a template that does not
  // parse (the message names the file).
  [[nodiscard]] static StatusOr<ChatFormat> Load(const std::string& dir, const Tokenizer& tokenizer,
                                                 const std::string& template_file = "");

  // The conversation's prompt text (what the model reads). InvalidArgument when the
  // template refuses it (raise_exception, e.g. roles that do not alternate).
  [[nodiscard]] StatusOr<std::string> Render(std::span<const ChatMessage> messages,
                                             bool add_generation_prompt = true) const;

  // The conversation's token ids: template-written special tokens as their ids, all
  // other text (message content included) encoded without special-token parsing, the
  // text between two control tokens as one piece. For content that spells no special
  // token this equals tokenizer.Encode(Render(...)).
  [[nodiscard]] StatusOr<std::vector<int32_t>> Encode(std::span<const ChatMessage> messages,
                                                      bool add_generation_prompt = true) const;

  // Token strings that end an assistant turn: the family's (e.g. "<|eot_id|>") and the
  // tokenizer_config.json eos_token.
  const std::vector<std::string>& stop_tokens() const { return stop_tokens_; }
  // Where the format came from: the template file path, "tokenizer_config.json",
  // "chat_template.jinja", or "builtin:<family>".
  const std::string& origin() const { return origin_; }

 private:
  ChatFormat(const Tokenizer& tokenizer) : tokenizer_(&tokenizer) {}

  const Tokenizer* tokenizer_;
  std::optional<jinja::Template> template_;  // absent: the built-in family
  ChatFamily family_ = ChatFamily::kLlama3;
  std::string bos_token_, eos_token_;
  std::vector<std::string> stop_tokens_;
  std::string origin_;
};

// Token ids of rendered text whose bytes carry provenance (jinja::Rendered): an added
// or special token of `tokenizer` becomes its id only where all its bytes came from the
// template; the rest is encoded without special-token parsing.
std::vector<int32_t> EncodeRendered(const Tokenizer& tokenizer, const jinja::Rendered& rendered);

}  // namespace kvc::tokenizer

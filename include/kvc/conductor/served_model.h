// The model the conductor serves, as far as the conductor needs it: its id, its
// tokenizer and chat template (requests are tokenized here, never on workers), its
// context length and end-of-sequence ids. Immutable after Load; thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kvc/common/status.h"
#include "kvc/conductor/openai_api.h"
#include "kvc/engine/model_config.h"
#include "kvc/tokenizer/chat_format.h"
#include "kvc/tokenizer/tokenizer.h"

namespace kvc::conductor {

class ServedModel {
 public:
  // Loads the tokenizer and config.json of `dir`; an empty `dir` writes the built-in
  // kvc-tiny model to a temporary directory (removed again on destruction).
  // `served_id` overrides the id ("" = engine::ServedModelId of the directory).
  // `chat_template_file` overrides the model's Jinja chat template (tokenizer::ChatFormat).
  [[nodiscard]] static StatusOr<std::unique_ptr<ServedModel>> Load(
      const std::string& dir, const std::string& served_id,
      const std::string& chat_template_file = "");
  ~ServedModel();

  const std::string& id() const { return id_; }
  // The model directory as given ("kvc-tiny" for the built-in model).
  const std::string& root() const { return root_; }
  const tokenizer::Tokenizer& tokenizer() const { return *tokenizer_; }
  const engine::ModelConfig& config() const { return config_; }
  // Most tokens (prompt + generated) a request may hold.
  int64_t context_tokens() const { return config_.max_position_embeddings; }
  // The model's end-of-sequence ids.
  std::vector<uint32_t> eos_ids() const;
  // Ids that end an assistant turn in the chat template (added to a chat request's
  // stop ids, as kvc-model generate --chat does).
  const std::vector<uint32_t>& chat_stop_ids() const { return chat_stop_ids_; }

  // The prompt's token ids, exactly as kvc-model generate builds them: a chat request
  // gets the chat template (its control tokens as special ids; message content never
  // becomes a special id, see tokenizer::EncodeChat), a text completion BOS + the text
  // (special tokens not parsed), a token completion its ids. InvalidArgument for an
  // id outside the vocabulary or an empty result.
  [[nodiscard]] StatusOr<std::vector<uint32_t>> PromptTokens(
      const openai::GenerationRequest& request) const;
  // The chat template's token ids for `messages` (see tokenizer::ChatFormat::Encode);
  // InvalidArgument when the template refuses the conversation.
  [[nodiscard]] StatusOr<std::vector<uint32_t>> ChatTokens(
      const std::vector<openai::ChatMessage>& messages, bool add_generation_prompt) const;
  // Tokens of raw text as a completion prompt (BOS + text), for LookupPrefix.
  std::vector<uint32_t> TextTokens(const std::string& text) const;

 private:
  ServedModel() = default;

  std::string id_;
  std::string root_;
  std::string temp_dir_;  // removed on destruction when set
  std::unique_ptr<tokenizer::Tokenizer> tokenizer_;
  engine::ModelConfig config_;
  std::unique_ptr<tokenizer::ChatFormat> chat_;
  std::vector<uint32_t> chat_stop_ids_;
};

}  // namespace kvc::conductor

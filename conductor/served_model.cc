#include "kvc/conductor/served_model.h"

#include <stdlib.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "kvc/common/logging.h"
#include "kvc/engine/tiny_model.h"

namespace kvc::conductor {

StatusOr<std::unique_ptr<ServedModel>> ServedModel::Load(const std::string& dir,
                                                         const std::string& served_id,
                                                         const std::string& chat_template_file) {
  std::unique_ptr<ServedModel> m(new ServedModel());
  std::string model_dir = dir;
  if (model_dir.empty()) {
    std::string tmpl = (std::filesystem::temp_directory_path() / "kvc-conductor-model-XXXXXX");
    if (mkdtemp(tmpl.data()) == nullptr) {
      return absl::InternalError("cannot create a temporary directory for kvc-tiny");
    }
    m->temp_dir_ = tmpl;
    model_dir = tmpl;
    KVC_RETURN_IF_ERROR(engine::WriteTinyModel(model_dir, /*seed=*/0));
  }
  m->root_ = dir.empty() ? std::string(engine::kTinyModelId) : dir;
  KVC_ASSIGN_OR_RETURN(m->config_, engine::LoadModelConfig(model_dir));
  KVC_ASSIGN_OR_RETURN(m->tokenizer_, tokenizer::LoadTokenizer(model_dir));
  m->id_ = !served_id.empty()     ? served_id
           : m->temp_dir_.empty() ? engine::ServedModelId(model_dir, m->config_)
                                  : std::string(engine::kTinyModelId);
  KVC_ASSIGN_OR_RETURN(auto chat,
                       tokenizer::ChatFormat::Load(model_dir, *m->tokenizer_, chat_template_file));
  m->chat_ = std::make_unique<tokenizer::ChatFormat>(std::move(chat));
  Logger("conductor")->info("chat template: {}", m->chat_->origin());
  for (const auto& t : m->chat_->stop_tokens()) {
    if (auto id = m->tokenizer_->TokenId(t))
      m->chat_stop_ids_.push_back(static_cast<uint32_t>(*id));
  }
  if (m->config_.max_position_embeddings <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(model_dir, ": max_position_embeddings ",
                                                   m->config_.max_position_embeddings,
                                                   " must be > 0"));
  }
  return m;
}

ServedModel::~ServedModel() {
  if (temp_dir_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(temp_dir_, ec);
}

std::vector<uint32_t> ServedModel::eos_ids() const {
  std::vector<uint32_t> out;
  for (int64_t id : config_.eos_token_ids) {
    if (id >= 0) out.push_back(static_cast<uint32_t>(id));
  }
  return out;
}

std::vector<uint32_t> ServedModel::TextTokens(const std::string& text) const {
  std::vector<uint32_t> ids;
  if (config_.bos_token_id >= 0) ids.push_back(static_cast<uint32_t>(config_.bos_token_id));
  for (int32_t id : tokenizer_->Encode(text, /*parse_special=*/false)) {
    ids.push_back(static_cast<uint32_t>(id));
  }
  return ids;
}

StatusOr<std::vector<uint32_t>> ServedModel::PromptTokens(
    const openai::GenerationRequest& r) const {
  std::vector<uint32_t> ids;
  if (r.endpoint == openai::GenerationRequest::Endpoint::kChat) {
    KVC_ASSIGN_OR_RETURN(ids, ChatTokens(r.messages, /*add_generation_prompt=*/true));
  } else if (r.prompt_is_tokens) {
    const int64_t vocab = tokenizer_->vocab_size();
    for (uint32_t id : r.prompt_tokens) {
      if (static_cast<int64_t>(id) >= vocab) {
        return absl::InvalidArgumentError(
            absl::StrCat("prompt token id ", id, " is outside the vocabulary (size ", vocab, ")"));
      }
    }
    ids = r.prompt_tokens;
  } else {
    ids = TextTokens(r.prompt_text);
  }
  if (ids.empty()) return absl::InvalidArgumentError("the prompt has no tokens");
  return ids;
}

StatusOr<std::vector<uint32_t>> ServedModel::ChatTokens(
    const std::vector<openai::ChatMessage>& messages, bool add_generation_prompt) const {
  std::vector<tokenizer::ChatMessage> chat;
  for (const auto& m : messages) chat.push_back({m.role, m.content});
  // Control tokens come only from the template: content is never parsed for them.
  KVC_ASSIGN_OR_RETURN(auto ids, chat_->Encode(chat, add_generation_prompt));
  return std::vector<uint32_t>(ids.begin(), ids.end());
}

}  // namespace kvc::conductor

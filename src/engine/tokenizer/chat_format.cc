#include "kvc/tokenizer/chat_format.h"

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace kvc::tokenizer {
namespace {

using nlohmann::ordered_json;

StatusOr<std::string> ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// "bos_token": "<s>" or {"content": "<s>", ...} (AddedToken).
std::string TokenText(const ordered_json& config, const char* key) {
  if (!config.contains(key)) return "";
  const auto& t = config[key];
  if (t.is_string()) return t.get<std::string>();
  if (t.is_object() && t.contains("content") && t["content"].is_string())
    return t["content"].get<std::string>();
  return "";
}

// The template text of tokenizer_config.json's chat_template: a string, or a list of
// {"name", "template"} of which "default" (else the first) is used.
std::string ConfigTemplate(const ordered_json& config) {
  if (!config.contains("chat_template")) return "";
  const auto& t = config["chat_template"];
  if (t.is_string()) return t.get<std::string>();
  if (!t.is_array()) return "";
  std::string first;
  for (const auto& named : t) {
    if (!named.is_object() || !named.contains("template") || !named["template"].is_string())
      continue;
    const std::string text = named["template"].get<std::string>();
    if (named.value("name", "") == "default") return text;
    if (first.empty()) first = text;
  }
  return first;
}

const char* FamilyName(ChatFamily f) {
  switch (f) {
    case ChatFamily::kLlama3:
      return "llama3";
    case ChatFamily::kChatMl:
      return "chatml";
    case ChatFamily::kLlama2:
      return "llama2";
    case ChatFamily::kZephyr:
      return "zephyr";
  }
  return "?";
}

}  // namespace

StatusOr<ChatFormat> ChatFormat::Load(const std::string& dir, const Tokenizer& tokenizer,
                                      const std::string& template_file) {
  ChatFormat f(tokenizer);
  f.family_ = DetectChatFamily(tokenizer);
  ordered_json config = ordered_json::object();
  const std::string config_path = dir + "/tokenizer_config.json";
  if (!dir.empty() && std::filesystem::exists(config_path)) {
    auto text = ReadText(config_path);
    if (text.ok()) config = ordered_json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (!config.is_object()) return absl::InvalidArgumentError(config_path + ": not a JSON object");
  }
  f.bos_token_ = TokenText(config, "bos_token");
  f.eos_token_ = TokenText(config, "eos_token");
  std::string source;
  if (!template_file.empty()) {
    KVC_ASSIGN_OR_RETURN(source, ReadText(template_file));
    f.origin_ = template_file;
  } else if (!dir.empty() && std::filesystem::exists(dir + "/chat_template.jinja")) {
    KVC_ASSIGN_OR_RETURN(source, ReadText(dir + "/chat_template.jinja"));
    f.origin_ = "chat_template.jinja";
  } else {
    source = ConfigTemplate(config);
    f.origin_ = "tokenizer_config.json";
  }
  if (!source.empty()) {
    auto t = jinja::Template::Parse(source);
    if (!t.ok())
      return absl::InvalidArgumentError(f.origin_ +
                                        ": chat template: " + std::string(t.status().message()));
    f.template_ = std::move(*t);
  } else {
    f.origin_ = std::string("builtin:") + FamilyName(f.family_);
  }
  f.stop_tokens_ = ChatStopTokens(f.family_);
  if (!f.eos_token_.empty() && tokenizer.TokenId(f.eos_token_))
    f.stop_tokens_.push_back(f.eos_token_);
  return f;
}

namespace {

StatusOr<jinja::Rendered> RenderTemplate(const jinja::Template& t,
                                         std::span<const ChatMessage> messages,
                                         bool add_generation_prompt, const std::string& bos,
                                         const std::string& eos) {
  ordered_json data = {{"messages", ordered_json::array()}};
  for (const auto& m : messages)
    data["messages"].push_back({{"role", m.role}, {"content", m.content}});
  ordered_json trusted = {
      {"add_generation_prompt", add_generation_prompt}, {"bos_token", bos}, {"eos_token", eos}};
  return t.Render(data, trusted);
}

}  // namespace

StatusOr<std::string> ChatFormat::Render(std::span<const ChatMessage> messages,
                                         bool add_generation_prompt) const {
  if (!template_) return ApplyChatTemplate(family_, messages, add_generation_prompt);
  KVC_ASSIGN_OR_RETURN(
      auto r, RenderTemplate(*template_, messages, add_generation_prompt, bos_token_, eos_token_));
  return std::move(r.text);
}

StatusOr<std::vector<int32_t>> ChatFormat::Encode(std::span<const ChatMessage> messages,
                                                  bool add_generation_prompt) const {
  if (!template_) return EncodeChat(*tokenizer_, family_, messages, add_generation_prompt);
  KVC_ASSIGN_OR_RETURN(
      auto r, RenderTemplate(*template_, messages, add_generation_prompt, bos_token_, eos_token_));
  return EncodeRendered(*tokenizer_, r);
}

std::vector<int32_t> EncodeRendered(const Tokenizer& tokenizer, const jinja::Rendered& rendered) {
  const std::vector<std::string> specials = tokenizer.SpecialTokenTexts();
  bool first_byte[256] = {};
  for (const auto& s : specials) first_byte[static_cast<unsigned char>(s[0])] = true;
  const std::string& text = rendered.text;
  std::vector<int32_t> ids;
  size_t start = 0;  // start of the ordinary text not yet encoded
  auto flush = [&](size_t end) {
    if (end > start) {
      const auto part = tokenizer.Encode(std::string_view(text).substr(start, end - start),
                                         /*parse_special=*/false);
      ids.insert(ids.end(), part.begin(), part.end());
    }
  };
  for (size_t i = 0; i < text.size();) {
    const std::string* hit = nullptr;
    if (first_byte[static_cast<unsigned char>(text[i])] && rendered.from_data[i] == '\0') {
      for (const auto& s : specials) {  // longest first
        if (text.compare(i, s.size(), s) == 0 && rendered.from_data.find('\1', i) >= i + s.size()) {
          hit = &s;
          break;
        }
      }
    }
    std::optional<int32_t> id = hit != nullptr ? tokenizer.TokenId(*hit) : std::nullopt;
    if (!id) {
      ++i;
      continue;
    }
    flush(i);
    ids.push_back(*id);
    i += hit->size();
    start = i;
  }
  flush(text.size());
  return ids;
}

}  // namespace kvc::tokenizer

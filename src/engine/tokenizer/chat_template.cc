#include "kvc/tokenizer/chat_template.h"

namespace kvc::tokenizer {
namespace {

std::string RenderLlama3(std::span<const ChatMessage> messages, bool gen) {
  std::string out = "<|begin_of_text|>";
  for (const auto& m : messages) {
    out += "<|start_header_id|>" + m.role + "<|end_header_id|>\n\n" + m.content + "<|eot_id|>";
  }
  if (gen) out += "<|start_header_id|>assistant<|end_header_id|>\n\n";
  return out;
}

std::string RenderChatMl(std::span<const ChatMessage> messages, bool gen) {
  std::string out;
  for (const auto& m : messages) out += "<|im_start|>" + m.role + "\n" + m.content + "<|im_end|>\n";
  if (gen) out += "<|im_start|>assistant\n";
  return out;
}

std::string RenderLlama2(std::span<const ChatMessage> messages) {
  std::string out, system;
  for (const auto& m : messages) {
    if (m.role == "system") {
      system = "<<SYS>>\n" + m.content + "\n<</SYS>>\n\n";
    } else if (m.role == "user") {
      out += "<s>[INST] " + system + m.content + " [/INST]";
      system.clear();
    } else {
      out += " " + m.content + " </s>";
    }
  }
  return out;
}

std::string RenderZephyr(std::span<const ChatMessage> messages, bool gen) {
  std::string out;
  for (const auto& m : messages) out += "<|" + m.role + "|>\n" + m.content + "</s>\n";
  if (gen) out += "<|assistant|>\n";
  return out;
}

}  // namespace

ChatFamily DetectChatFamily(const Tokenizer& tokenizer) {
  if (tokenizer.TokenId("<|start_header_id|>")) return ChatFamily::kLlama3;
  if (tokenizer.TokenId("<|im_start|>")) return ChatFamily::kChatMl;
  if (tokenizer.kind() == "sentencepiece") return ChatFamily::kLlama2;
  return ChatFamily::kChatMl;
}

std::string ApplyChatTemplate(ChatFamily family, std::span<const ChatMessage> messages,
                              bool add_generation_prompt) {
  switch (family) {
    case ChatFamily::kLlama3:
      return RenderLlama3(messages, add_generation_prompt);
    case ChatFamily::kChatMl:
      return RenderChatMl(messages, add_generation_prompt);
    case ChatFamily::kLlama2:
      return RenderLlama2(messages);
    case ChatFamily::kZephyr:
      return RenderZephyr(messages, add_generation_prompt);
  }
  return "";
}

std::vector<std::string> ChatStopTokens(ChatFamily family) {
  switch (family) {
    case ChatFamily::kLlama3:
      return {"<|eot_id|>", "<|end_of_text|>"};
    case ChatFamily::kChatMl:
      return {"<|im_end|>", "<|endoftext|>"};
    case ChatFamily::kLlama2:
    case ChatFamily::kZephyr:
      return {"</s>"};
  }
  return {};
}

}  // namespace kvc::tokenizer

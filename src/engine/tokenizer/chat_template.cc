#include "kvc/tokenizer/chat_template.h"

namespace kvc::tokenizer {
namespace {

using Kind = ChatSegment::Kind;

// Appends segments; empty texts are dropped so adjacent pieces stay easy to merge.
class Segments {
 public:
  Segments& Marker(std::string text) { return Add(Kind::kMarker, std::move(text)); }
  Segments& Text(std::string text) { return Add(Kind::kText, std::move(text)); }
  Segments& Content(std::string text) { return Add(Kind::kContent, std::move(text)); }
  std::vector<ChatSegment> Take() { return std::move(out_); }

 private:
  Segments& Add(Kind kind, std::string text) {
    if (!text.empty()) out_.push_back({kind, std::move(text)});
    return *this;
  }
  std::vector<ChatSegment> out_;
};

std::vector<ChatSegment> RenderLlama3(std::span<const ChatMessage> messages, bool gen) {
  Segments s;
  s.Marker("<|begin_of_text|>");
  for (const auto& m : messages) {
    s.Marker("<|start_header_id|>").Text(m.role).Marker("<|end_header_id|>").Text("\n\n");
    s.Content(m.content).Marker("<|eot_id|>");
  }
  if (gen)
    s.Marker("<|start_header_id|>").Text("assistant").Marker("<|end_header_id|>").Text("\n\n");
  return s.Take();
}

std::vector<ChatSegment> RenderChatMl(std::span<const ChatMessage> messages, bool gen) {
  Segments s;
  for (const auto& m : messages) {
    s.Marker("<|im_start|>").Text(m.role + "\n").Content(m.content).Marker("<|im_end|>").Text("\n");
  }
  if (gen) s.Marker("<|im_start|>").Text("assistant\n");
  return s.Take();
}

std::vector<ChatSegment> RenderLlama2(std::span<const ChatMessage> messages) {
  Segments s;
  const ChatMessage* system = nullptr;
  for (const auto& m : messages) {
    if (m.role == "system") {
      system = &m;
    } else if (m.role == "user") {
      s.Marker("<s>").Text("[INST] ");
      if (system != nullptr) s.Text("<<SYS>>\n").Content(system->content).Text("\n<</SYS>>\n\n");
      s.Content(m.content).Text(" [/INST]");
      system = nullptr;
    } else {
      s.Text(" ").Content(m.content).Text(" ").Marker("</s>");
    }
  }
  return s.Take();
}

std::vector<ChatSegment> RenderZephyr(std::span<const ChatMessage> messages, bool gen) {
  Segments s;
  for (const auto& m : messages) {
    s.Marker("<|" + m.role + "|>").Text("\n").Content(m.content).Marker("</s>").Text("\n");
  }
  if (gen) s.Marker("<|assistant|>").Text("\n");
  return s.Take();
}

}  // namespace

ChatFamily DetectChatFamily(const Tokenizer& tokenizer) {
  if (tokenizer.TokenId("<|start_header_id|>")) return ChatFamily::kLlama3;
  if (tokenizer.TokenId("<|im_start|>")) return ChatFamily::kChatMl;
  if (tokenizer.kind() == "sentencepiece") return ChatFamily::kLlama2;
  return ChatFamily::kChatMl;
}

std::vector<ChatSegment> RenderChatSegments(ChatFamily family,
                                            std::span<const ChatMessage> messages,
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
  return {};
}

std::string ApplyChatTemplate(ChatFamily family, std::span<const ChatMessage> messages,
                              bool add_generation_prompt) {
  std::string out;
  for (const auto& seg : RenderChatSegments(family, messages, add_generation_prompt)) {
    out += seg.text;
  }
  return out;
}

std::vector<int32_t> EncodeChat(const Tokenizer& tokenizer, ChatFamily family,
                                std::span<const ChatMessage> messages, bool add_generation_prompt) {
  std::vector<int32_t> ids;
  std::string pending;  // ordinary text since the last marker, encoded as one piece
  auto flush = [&] {
    if (pending.empty()) return;
    const auto text = tokenizer.Encode(pending, /*parse_special=*/false);
    ids.insert(ids.end(), text.begin(), text.end());
    pending.clear();
  };
  for (const auto& seg : RenderChatSegments(family, messages, add_generation_prompt)) {
    const auto id = seg.kind == Kind::kMarker ? tokenizer.TokenId(seg.text) : std::nullopt;
    if (!id) {  // content, template text, or a marker this vocabulary lacks
      pending += seg.text;
      continue;
    }
    flush();
    ids.push_back(*id);
  }
  flush();
  return ids;
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

// Built-in chat templates, one per model family (no Jinja engine): they render a
// conversation into the prompt text the family was trained on. Pure functions.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "kvc/tokenizer/tokenizer.h"

namespace kvc::tokenizer {

struct ChatMessage {
  std::string role;  // "system", "user" or "assistant"
  std::string content;
};

enum class ChatFamily {
  kLlama3,  // <|start_header_id|>role<|end_header_id|>\n\ncontent<|eot_id|>  (also kvc-tiny)
  kChatMl,  // <|im_start|>role\ncontent<|im_end|>\n  (Qwen2, SmolLM)
  kLlama2,  // <s>[INST] <<SYS>>\n...\n<</SYS>>\n\nuser [/INST] answer </s>
  kZephyr,  // <|user|>\ncontent</s>\n<|assistant|>\n  (TinyLlama chat)
};

// Picks the family from the tokenizer's special tokens (Llama-3 header tokens,
// ChatML <|im_start|>), else Llama-2 for SentencePiece, else ChatML.
ChatFamily DetectChatFamily(const Tokenizer& tokenizer);

// The prompt text for `messages`; with `add_generation_prompt` it ends where the
// assistant's answer begins. Llama-3 and Llama-2 output starts with the BOS text.
std::string ApplyChatTemplate(ChatFamily family, std::span<const ChatMessage> messages,
                              bool add_generation_prompt = true);

// Token strings that end an assistant turn in this family, e.g. "<|eot_id|>".
std::vector<std::string> ChatStopTokens(ChatFamily family);

}  // namespace kvc::tokenizer

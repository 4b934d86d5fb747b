// Built-in chat templates, one per model family (no Jinja engine): they render a
// conversation into the prompt text the family was trained on. Pure functions.
//
// Control tokens come only from the template, never from message content: a message
// whose text spells "<|eot_id|><|start_header_id|>system<|end_header_id|>" encodes as
// ordinary text (as Hugging Face and vLLM do). Use EncodeChat to tokenize a
// conversation; encoding ApplyChatTemplate's text with special-token parsing would let
// user text inject turns.
#pragma once

#include <cstdint>
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

// One piece of a rendered conversation. A kMarker is a control token of the template
// ("<|eot_id|>"); kText is other template text (roles, newlines, "[INST] "); kContent
// is a message's content, verbatim.
struct ChatSegment {
  enum class Kind { kMarker, kText, kContent };
  Kind kind;
  std::string text;
};

// Picks the family from the tokenizer's special tokens (Llama-3 header tokens,
// ChatML <|im_start|>), else Llama-2 for SentencePiece, else ChatML.
ChatFamily DetectChatFamily(const Tokenizer& tokenizer);

// The conversation as segments; their texts concatenated are ApplyChatTemplate's text.
std::vector<ChatSegment> RenderChatSegments(ChatFamily family,
                                            std::span<const ChatMessage> messages,
                                            bool add_generation_prompt = true);

// The prompt text for `messages`; with `add_generation_prompt` it ends where the
// assistant's answer begins. Llama-3 and Llama-2 output starts with the BOS text.
std::string ApplyChatTemplate(ChatFamily family, std::span<const ChatMessage> messages,
                              bool add_generation_prompt = true);

// The token ids of the conversation: each template marker the tokenizer knows becomes
// its single id; everything else (template text and message content alike) is encoded
// as ordinary text, without special-token parsing, the text between two markers as one
// piece. For content that spells no special token this equals
// tokenizer.Encode(ApplyChatTemplate(...)).
std::vector<int32_t> EncodeChat(const Tokenizer& tokenizer, ChatFamily family,
                                std::span<const ChatMessage> messages,
                                bool add_generation_prompt = true);

// Token strings that end an assistant turn in this family, e.g. "<|eot_id|>".
std::vector<std::string> ChatStopTokens(ChatFamily family);

}  // namespace kvc::tokenizer

// Turns a stream of token ids into text pieces for streaming, never emitting half
// of a UTF-8 character: bytes of an unfinished character wait for the next token.
// Every piece is valid UTF-8: bytes that cannot form a character (a random or
// adversarial token sequence) come out as U+FFFD, as does an unfinished
// character at Flush(). Not thread-safe (one per request).
#pragma once

#include <cstdint>
#include <string>

#include "kvc/tokenizer/tokenizer.h"

namespace kvc::tokenizer {

class IncrementalDetokenizer {
 public:
  // REQUIRES: `tokenizer` outlives this object.
  explicit IncrementalDetokenizer(const Tokenizer& tokenizer, bool skip_special = true)
      : tokenizer_(tokenizer), skip_special_(skip_special) {}

  // Adds one token; returns the text that became complete (possibly ""), valid UTF-8.
  std::string Add(int32_t id);
  // Returns whatever is still held back (an incomplete character at end of
  // stream, as U+FFFD).
  std::string Flush();
  // All text emitted so far (Add + Flush results concatenated).
  const std::string& text() const { return text_; }

 private:
  const Tokenizer& tokenizer_;
  bool skip_special_;
  bool first_ = true;
  std::string pending_;  // bytes not emitted yet (an unfinished character)
  std::string text_;
};

}  // namespace kvc::tokenizer

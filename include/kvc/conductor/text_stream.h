// The conductor's side of a generation's text: turns the token ids coming back from
// prefill (the first) and decode (the rest) into streamable text pieces with the
// same result as a single-node engine::RequestStream: stop ids add no text, text is
// cut before a matched stop string, half UTF-8 characters wait. Text that could
// still turn out to be the start of a stop string is held back until it cannot.
// Pure; not thread-safe (one per request).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kvc/tokenizer/incremental_detokenizer.h"
#include "kvc/tokenizer/tokenizer.h"

namespace kvc::conductor {

class TextStream {
 public:
  // `stop_ids`: ids that end generation without adding text (stop ids and, unless
  // ignore_eos, the model's EOS ids). REQUIRES: `tokenizer` outlives this object.
  TextStream(const tokenizer::Tokenizer& tokenizer, std::vector<uint32_t> stop_ids,
             std::vector<std::string> stop_strings);

  // Adds one generated token. Returns the text that is now safe to send (maybe "").
  // After a stop id or stop string, finished() is true and later calls add nothing.
  std::string Add(uint32_t id);
  // End of the stream: everything still held back.
  std::string Finish();

  // A stop id or a stop string ended the text.
  bool finished() const { return finished_; }
  // Tokens accepted (including a final stop id, excluding any after the end).
  uint32_t tokens() const { return tokens_; }
  // The whole text so far (cut before a stop string).
  const std::string& text() const { return text_; }

 private:
  std::string Emit(size_t upto);

  tokenizer::IncrementalDetokenizer detok_;
  std::vector<uint32_t> stop_ids_;
  std::vector<std::string> stop_strings_;
  size_t holdback_ = 0;  // longest stop string - 1
  std::string text_;
  size_t emitted_ = 0;
  uint32_t tokens_ = 0;
  bool finished_ = false;
};

}  // namespace kvc::conductor

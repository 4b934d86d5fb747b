#include "kvc/tokenizer/incremental_detokenizer.h"

#include "kvc/common/utf8.h"

namespace kvc::tokenizer {

std::string IncrementalDetokenizer::Add(int32_t id) {
  if (skip_special_ && tokenizer_.IsSpecial(id)) return "";
  pending_ += tokenizer_.TokenBytes(id, first_);
  first_ = false;
  // A model may emit any byte sequence: what cannot become valid UTF-8 becomes
  // U+FFFD now; a character that may still complete waits for the next token.
  std::string out = TakeValidUtf8(&pending_, /*flush=*/false);
  text_ += out;
  return out;
}

std::string IncrementalDetokenizer::Flush() {
  std::string out = TakeValidUtf8(&pending_, /*flush=*/true);
  text_ += out;
  return out;
}

}  // namespace kvc::tokenizer

#include "kvc/tokenizer/incremental_detokenizer.h"

#include "src/engine/tokenizer/internal/byte_level.h"

namespace kvc::tokenizer {

std::string IncrementalDetokenizer::Add(int32_t id) {
  if (skip_special_ && tokenizer_.IsSpecial(id)) return "";
  pending_ += tokenizer_.TokenBytes(id, first_);
  first_ = false;
  const size_t complete = internal::CompleteUtf8Prefix(pending_);
  std::string out = pending_.substr(0, complete);
  pending_.erase(0, complete);
  text_ += out;
  return out;
}

std::string IncrementalDetokenizer::Flush() {
  std::string out;
  out.swap(pending_);
  text_ += out;
  return out;
}

}  // namespace kvc::tokenizer

#include "kvc/conductor/text_stream.h"

#include <algorithm>

namespace kvc::conductor {

TextStream::TextStream(const tokenizer::Tokenizer& tokenizer, std::vector<uint32_t> stop_ids,
                       std::vector<std::string> stop_strings)
    : detok_(tokenizer), stop_ids_(std::move(stop_ids)), stop_strings_(std::move(stop_strings)) {
  std::erase_if(stop_strings_, [](const std::string& s) { return s.empty(); });
  for (const auto& s : stop_strings_) holdback_ = std::max(holdback_, s.size() - 1);
}

std::string TextStream::Emit(size_t upto) {
  upto = std::min(upto, text_.size());
  // Never split a UTF-8 character: back up over continuation bytes.
  while (upto > emitted_ && upto < text_.size() &&
         (static_cast<unsigned char>(text_[upto]) & 0xC0) == 0x80) {
    --upto;
  }
  if (upto <= emitted_) return "";
  std::string out = text_.substr(emitted_, upto - emitted_);
  emitted_ = upto;
  return out;
}

std::string TextStream::Add(uint32_t id) {
  if (finished_) return "";
  ++tokens_;
  if (std::find(stop_ids_.begin(), stop_ids_.end(), id) != stop_ids_.end()) {
    finished_ = true;
    text_ += detok_.Flush();
    return Emit(text_.size());
  }
  const size_t before = text_.size();
  text_ += detok_.Add(static_cast<int32_t>(id));
  const size_t from = before > holdback_ ? before - holdback_ : 0;
  for (const auto& s : stop_strings_) {
    const size_t at = text_.find(s, from);
    if (at != std::string::npos) {
      text_.resize(at);
      finished_ = true;
      return Emit(text_.size());
    }
  }
  return Emit(text_.size() > holdback_ ? text_.size() - holdback_ : 0);
}

std::string TextStream::Finish() {
  if (!finished_) text_ += detok_.Flush();
  finished_ = true;
  return Emit(text_.size());
}

}  // namespace kvc::conductor

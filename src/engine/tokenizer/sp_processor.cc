// Deliberately includes no abseil header (see sp_processor.h).
#include "src/engine/tokenizer/internal/sp_processor.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

namespace kvc::tokenizer::internal {

struct SpProcessor::Impl {
  sentencepiece::SentencePieceProcessor sp;
};

SpProcessor::SpProcessor() : impl_(std::make_unique<Impl>()) {}
SpProcessor::~SpProcessor() = default;

std::string SpProcessor::Load(const std::string& path) {
  const auto status = impl_->sp.Load(path);
  return status.ok() ? "" : status.ToString();
}

std::vector<int> SpProcessor::Encode(const std::string& text) const {
  std::vector<int> ids;
  (void)impl_->sp.Encode(text, &ids);
  return ids;
}

std::string SpProcessor::Decode(const std::vector<int>& ids) const {
  std::string out;
  (void)impl_->sp.Decode(ids, &out);
  return out;
}

int SpProcessor::size() const { return impl_->sp.GetPieceSize(); }
std::string SpProcessor::IdToPiece(int id) const { return impl_->sp.IdToPiece(id); }
int SpProcessor::PieceToId(const std::string& piece) const { return impl_->sp.PieceToId(piece); }
int SpProcessor::unk_id() const { return impl_->sp.unk_id(); }
bool SpProcessor::IsControl(int id) const { return impl_->sp.IsControl(id); }
bool SpProcessor::IsUnknown(int id) const { return impl_->sp.IsUnknown(id); }
bool SpProcessor::IsByte(int id) const { return impl_->sp.IsByte(id); }

std::string TrainSentencePiece(const std::string& input_file, const std::string& model_prefix,
                               int vocab_size) {
  const std::string args = "--input=" + input_file + " --model_prefix=" + model_prefix +
                           " --vocab_size=" + std::to_string(vocab_size) +
                           " --model_type=bpe --byte_fallback=true --character_coverage=1.0"
                           " --minloglevel=2";
  const auto status = sentencepiece::SentencePieceTrainer::Train(args);
  return status.ok() ? "" : status.ToString();
}

}  // namespace kvc::tokenizer::internal

// A thin wall around libsentencepiece. Its header defines `absl::string_view` itself,
// which clashes with Debian's abseil, so only sp_processor.cc includes it and this
// header speaks plain std types. Immutable after Load; thread-safe for reads.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace kvc::tokenizer::internal {

class SpProcessor {
 public:
  SpProcessor();
  ~SpProcessor();
  SpProcessor(const SpProcessor&) = delete;
  SpProcessor& operator=(const SpProcessor&) = delete;

  // Returns "" on success, else the error text.
  std::string Load(const std::string& path);
  std::vector<int> Encode(const std::string& text) const;
  std::string Decode(const std::vector<int>& ids) const;
  int size() const;
  std::string IdToPiece(int id) const;
  int PieceToId(const std::string& piece) const;
  int unk_id() const;
  bool IsControl(int id) const;
  bool IsUnknown(int id) const;
  bool IsByte(int id) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Trains a small model (for tests): writes PREFIX.model. Returns "" or the error text.
std::string TrainSentencePiece(const std::string& input_file, const std::string& model_prefix,
                               int vocab_size);

}  // namespace kvc::tokenizer::internal

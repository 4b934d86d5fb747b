// A thin wall around libsentencepiece, reached through libkvc_sp_shim.so loaded at run
// time (see sp_shim_api.h: its bundled protobuf must not meet gRPC's). This header
// speaks plain std types. Immutable after Load; thread-safe for reads.
// REQUIRES for every method but Load: a successful Load.
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

// False when the shim cannot be loaded (e.g. sanitizer builds); Load then says why.
bool SentencePieceAvailable();

// Trains a small model (for tests): writes PREFIX.model. Returns "" or the error text.
std::string TrainSentencePiece(const std::string& input_file, const std::string& model_prefix,
                               int vocab_size);

}  // namespace kvc::tokenizer::internal

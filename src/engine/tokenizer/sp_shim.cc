// libkvc_sp_shim.so: libsentencepiece behind a C interface (see sp_shim_api.h). Built as
// its own shared library without project flags; includes no abseil or protobuf header.
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <string>
#include <vector>

#include "src/engine/tokenizer/internal/sp_shim_api.h"

using sentencepiece::SentencePieceProcessor;

namespace {
SentencePieceProcessor* P(void* sp) { return static_cast<SentencePieceProcessor*>(sp); }
void Send(kvc_sp_bytes_sink sink, void* ctx, const std::string& s) {
  sink(ctx, s.data(), s.size());
}
}  // namespace

extern "C" {

void* kvc_sp_new(void) { return new SentencePieceProcessor(); }
void kvc_sp_free(void* sp) { delete P(sp); }

int kvc_sp_load(void* sp, const char* path, kvc_sp_bytes_sink err, void* ctx) {
  const auto status = P(sp)->Load(path);
  if (status.ok()) return 0;
  Send(err, ctx, status.ToString());
  return 1;
}

void kvc_sp_encode(void* sp, const char* text, size_t len, kvc_sp_ids_sink out, void* ctx) {
  std::vector<int> ids;
  (void)P(sp)->Encode(std::string(text, len), &ids);
  out(ctx, ids.data(), ids.size());
}

void kvc_sp_decode(void* sp, const int* ids, size_t n, kvc_sp_bytes_sink out, void* ctx) {
  std::string text;
  (void)P(sp)->Decode(std::vector<int>(ids, ids + n), &text);
  Send(out, ctx, text);
}

int kvc_sp_size(void* sp) { return P(sp)->GetPieceSize(); }

void kvc_sp_id_to_piece(void* sp, int id, kvc_sp_bytes_sink out, void* ctx) {
  Send(out, ctx, P(sp)->IdToPiece(id));
}

int kvc_sp_piece_to_id(void* sp, const char* piece, size_t len) {
  return P(sp)->PieceToId(std::string(piece, len));
}

int kvc_sp_unk_id(void* sp) { return P(sp)->unk_id(); }

int kvc_sp_piece_kind(void* sp, int id) {
  return (P(sp)->IsControl(id) ? 1 : 0) | (P(sp)->IsUnknown(id) ? 2 : 0) |
         (P(sp)->IsByte(id) ? 4 : 0);
}

int kvc_sp_train(const char* args, kvc_sp_bytes_sink err, void* ctx) {
  const auto status = sentencepiece::SentencePieceTrainer::Train(args);
  if (status.ok()) return 0;
  Send(err, ctx, status.ToString());
  return 1;
}

}  // extern "C"

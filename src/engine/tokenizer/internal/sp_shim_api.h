// The C interface of libkvc_sp_shim.so, the only code that links libsentencepiece.
// Debian 12's libsentencepiece bundles its own protobuf 3.14 and exports those symbols;
// in a process that also loads libprotobuf 3.21 (every gRPC binary) the two copies
// interpose and the process crashes at start-up. So the shim is loaded at run time into
// a separate link namespace with dlmopen (sp_processor.cc), which keeps each copy private.
// Strings and id lists come back through sinks, called at most once per call.
#pragma once

#include <stddef.h>

extern "C" {

typedef void (*kvc_sp_bytes_sink)(void* ctx, const char* data, size_t len);
typedef void (*kvc_sp_ids_sink)(void* ctx, const int* ids, size_t n);

void* kvc_sp_new(void);
void kvc_sp_free(void* sp);
// 0 on success; otherwise the error text goes to `err`.
int kvc_sp_load(void* sp, const char* path, kvc_sp_bytes_sink err, void* ctx);
void kvc_sp_encode(void* sp, const char* text, size_t len, kvc_sp_ids_sink out, void* ctx);
void kvc_sp_decode(void* sp, const int* ids, size_t n, kvc_sp_bytes_sink out, void* ctx);
int kvc_sp_size(void* sp);
void kvc_sp_id_to_piece(void* sp, int id, kvc_sp_bytes_sink out, void* ctx);
int kvc_sp_piece_to_id(void* sp, const char* piece, size_t len);
int kvc_sp_unk_id(void* sp);
// Bit 1: control, bit 2: unknown, bit 4: byte piece.
int kvc_sp_piece_kind(void* sp, int id);
// Trains a model (for tests); 0 on success, else the error text goes to `err`.
int kvc_sp_train(const char* args, kvc_sp_bytes_sink err, void* ctx);
}

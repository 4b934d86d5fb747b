// Loads libkvc_sp_shim.so into its own link namespace (see sp_shim_api.h for why) and
// forwards to it. Only bytes cross the boundary (copied by the sinks below).
#include "src/engine/tokenizer/internal/sp_processor.h"

#include <dlfcn.h>
#include <unistd.h>

#include <mutex>

#include "src/engine/tokenizer/internal/sp_shim_api.h"

namespace kvc::tokenizer::internal {
namespace {

struct Shim {
  decltype(&kvc_sp_new) make = nullptr;
  decltype(&kvc_sp_free) free = nullptr;
  decltype(&kvc_sp_load) load = nullptr;
  decltype(&kvc_sp_encode) encode = nullptr;
  decltype(&kvc_sp_decode) decode = nullptr;
  decltype(&kvc_sp_size) size = nullptr;
  decltype(&kvc_sp_id_to_piece) id_to_piece = nullptr;
  decltype(&kvc_sp_piece_to_id) piece_to_id = nullptr;
  decltype(&kvc_sp_unk_id) unk_id = nullptr;
  decltype(&kvc_sp_piece_kind) piece_kind = nullptr;
  decltype(&kvc_sp_train) train = nullptr;
  std::string error;  // why the shim is unusable ("" when loaded)
};

std::string ExeDir() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  std::string path(buf, static_cast<size_t>(n));
  return path.substr(0, path.rfind('/'));
}

template <typename F>
void Bind(void* handle, const char* name, F* out, std::string* error) {
  *out = reinterpret_cast<F>(dlsym(handle, name));
  if (!*out && error->empty()) *error = std::string("libkvc_sp_shim.so lacks ") + name;
}

Shim LoadShim() {
  Shim s;
  std::vector<std::string> candidates;
  if (const char* env = std::getenv("KVC_SP_SHIM")) candidates.push_back(env);
  const std::string exe = ExeDir();
  candidates.push_back(exe + "/libkvc_sp_shim.so");
  candidates.push_back(exe + "/../bin/libkvc_sp_shim.so");
  candidates.push_back(exe + "/../lib/kvc/libkvc_sp_shim.so");
#ifdef KVC_SP_SHIM_BUILD_PATH
  candidates.push_back(KVC_SP_SHIM_BUILD_PATH);
#endif
  void* handle = nullptr;
  std::string tried;
  for (const auto& c : candidates) {
    // A new link namespace: the shim gets its own libsentencepiece, protobuf and
    // libstdc++ instances (RTLD_DEEPBIND is not enough: it breaks libstdc++'s iostreams).
    handle = dlmopen(LM_ID_NEWLM, c.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle) break;
    tried += (tried.empty() ? "" : ", ") + c;
  }
  if (!handle) {
    s.error = "cannot load libkvc_sp_shim.so (set KVC_SP_SHIM); tried " + tried;
    return s;
  }
  Bind(handle, "kvc_sp_new", &s.make, &s.error);
  Bind(handle, "kvc_sp_free", &s.free, &s.error);
  Bind(handle, "kvc_sp_load", &s.load, &s.error);
  Bind(handle, "kvc_sp_encode", &s.encode, &s.error);
  Bind(handle, "kvc_sp_decode", &s.decode, &s.error);
  Bind(handle, "kvc_sp_size", &s.size, &s.error);
  Bind(handle, "kvc_sp_id_to_piece", &s.id_to_piece, &s.error);
  Bind(handle, "kvc_sp_piece_to_id", &s.piece_to_id, &s.error);
  Bind(handle, "kvc_sp_unk_id", &s.unk_id, &s.error);
  Bind(handle, "kvc_sp_piece_kind", &s.piece_kind, &s.error);
  Bind(handle, "kvc_sp_train", &s.train, &s.error);
  return s;  // the handle stays open for the life of the process
}

const Shim& GetShim() {
  static const Shim shim = LoadShim();
  return shim;
}

void AppendBytes(void* ctx, const char* data, size_t len) {
  static_cast<std::string*>(ctx)->append(data, len);
}
void AppendIds(void* ctx, const int* ids, size_t n) {
  static_cast<std::vector<int>*>(ctx)->assign(ids, ids + n);
}

}  // namespace

struct SpProcessor::Impl {
  void* sp = nullptr;
};

SpProcessor::SpProcessor() : impl_(std::make_unique<Impl>()) {}
SpProcessor::~SpProcessor() {
  if (impl_->sp) GetShim().free(impl_->sp);
}

std::string SpProcessor::Load(const std::string& path) {
  const Shim& s = GetShim();
  if (!s.error.empty()) return s.error;
  if (!impl_->sp) impl_->sp = s.make();
  std::string error;
  if (s.load(impl_->sp, path.c_str(), AppendBytes, &error) != 0)
    return error.empty() ? "load failed" : error;
  return "";
}

std::vector<int> SpProcessor::Encode(const std::string& text) const {
  std::vector<int> ids;
  GetShim().encode(impl_->sp, text.data(), text.size(), AppendIds, &ids);
  return ids;
}

std::string SpProcessor::Decode(const std::vector<int>& ids) const {
  std::string text;
  GetShim().decode(impl_->sp, ids.data(), ids.size(), AppendBytes, &text);
  return text;
}

int SpProcessor::size() const { return GetShim().size(impl_->sp); }
std::string SpProcessor::IdToPiece(int id) const {
  std::string piece;
  GetShim().id_to_piece(impl_->sp, id, AppendBytes, &piece);
  return piece;
}
int SpProcessor::PieceToId(const std::string& piece) const {
  return GetShim().piece_to_id(impl_->sp, piece.data(), piece.size());
}
int SpProcessor::unk_id() const { return GetShim().unk_id(impl_->sp); }
bool SpProcessor::IsControl(int id) const { return GetShim().piece_kind(impl_->sp, id) & 1; }
bool SpProcessor::IsUnknown(int id) const { return GetShim().piece_kind(impl_->sp, id) & 2; }
bool SpProcessor::IsByte(int id) const { return GetShim().piece_kind(impl_->sp, id) & 4; }

std::string TrainSentencePiece(const std::string& input_file, const std::string& model_prefix,
                               int vocab_size) {
  const Shim& s = GetShim();
  if (!s.error.empty()) return s.error;
  const std::string args = "--input=" + input_file + " --model_prefix=" + model_prefix +
                           " --vocab_size=" + std::to_string(vocab_size) +
                           " --model_type=bpe --byte_fallback=true --character_coverage=1.0"
                           " --minloglevel=2";
  std::string error;
  if (s.train(args.c_str(), AppendBytes, &error) != 0)
    return error.empty() ? "training failed" : error;
  return "";
}

bool SentencePieceAvailable() { return GetShim().error.empty(); }

}  // namespace kvc::tokenizer::internal

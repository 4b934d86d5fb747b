// SentencePiece tokenizer.model (Llama-2, TinyLlama) through Debian's libsentencepiece,
// plus LoadTokenizer, which picks the format found in a model directory.
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "kvc/tokenizer/tokenizer.h"
#include "src/engine/tokenizer/internal/sp_processor.h"

namespace kvc::tokenizer {
namespace {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  Status Init(const std::string& path) {
    const std::string error = sp_.Load(path);
    if (!error.empty()) return absl::InvalidArgumentError(path + ": " + error);
    return absl::OkStatus();
  }

  std::vector<int32_t> Encode(std::string_view text, bool parse_special) const override {
    std::vector<int32_t> out;
    // SentencePiece has no notion of special tokens in text; control pieces such as
    // <s> written in the prompt are recognised here by exact match when asked to.
    size_t start = 0;
    size_t pos = 0;
    while (parse_special && pos < text.size()) {
      size_t matched = 0;
      for (const std::string_view piece : {std::string_view("<s>"), std::string_view("</s>")}) {
        if (text.compare(pos, piece.size(), piece) == 0) {
          AppendOrdinary(text.substr(start, pos - start), &out);
          out.push_back(sp_.PieceToId(std::string(piece)));
          matched = piece.size();
          break;
        }
      }
      pos += matched ? matched : 1;
      if (matched) start = pos;
    }
    AppendOrdinary(text.substr(start), &out);
    return out;
  }

  std::string Decode(std::span<const int32_t> ids, bool skip_special) const override {
    std::vector<int> kept;
    for (int32_t id : ids) {
      if (id < 0 || id >= sp_.size()) continue;
      if (skip_special && IsSpecial(id)) continue;
      kept.push_back(id);
    }
    return sp_.Decode(kept);
  }

  std::string TokenBytes(int32_t id, bool first) const override {
    if (id < 0 || id >= sp_.size() || sp_.IsControl(id)) return "";
    if (sp_.IsByte(id)) {  // "<0xAB>"
      return std::string(1,
                         static_cast<char>(std::stoi(sp_.IdToPiece(id).substr(3, 2), nullptr, 16)));
    }
    std::string piece = sp_.IdToPiece(id);
    std::string out;
    static const std::string kSpace = "\xE2\x96\x81";  // U+2581, SentencePiece's space
    for (size_t i = 0; i < piece.size();) {
      if (piece.compare(i, kSpace.size(), kSpace) == 0) {
        out.push_back(' ');
        i += kSpace.size();
      } else {
        out.push_back(piece[i++]);
      }
    }
    if (first && !out.empty() && out[0] == ' ') out.erase(0, 1);  // dummy prefix
    return out;
  }

  int64_t vocab_size() const override { return sp_.size(); }
  std::optional<int32_t> TokenId(std::string_view token) const override {
    const int id = sp_.PieceToId(std::string(token));
    if (id == sp_.unk_id() && token != sp_.IdToPiece(sp_.unk_id())) return std::nullopt;
    return id;
  }
  bool IsSpecial(int32_t id) const override {
    return id >= 0 && id < sp_.size() && (sp_.IsControl(id) || sp_.IsUnknown(id));
  }
  std::vector<std::string> SpecialTokenTexts() const override { return {"</s>", "<s>"}; }
  std::string kind() const override { return "sentencepiece"; }

 private:
  void AppendOrdinary(std::string_view text, std::vector<int32_t>* out) const {
    if (text.empty()) return;
    const std::vector<int> ids = sp_.Encode(std::string(text));
    out->insert(out->end(), ids.begin(), ids.end());
  }

  internal::SpProcessor sp_;
};

}  // namespace

StatusOr<std::unique_ptr<Tokenizer>> LoadSentencePiece(const std::string& path) {
  auto tok = std::make_unique<SentencePieceTokenizer>();
  KVC_RETURN_IF_ERROR(tok->Init(path));
  return tok;
}

StatusOr<std::unique_ptr<Tokenizer>> LoadTokenizer(const std::string& dir) {
  const std::string json_path = dir + "/tokenizer.json";
  std::ifstream in(json_path);
  if (in) {
    std::stringstream ss;
    ss << in.rdbuf();
    auto tok = ParseTokenizerJson(ss.str());
    if (tok.ok() || ::access((dir + "/tokenizer.model").c_str(), R_OK) != 0) {
      if (!tok.ok())
        return absl::Status(tok.status().code(),
                            json_path + ": " + std::string(tok.status().message()));
      return tok;
    }
  }
  const std::string model_path = dir + "/tokenizer.model";
  if (::access(model_path.c_str(), R_OK) == 0) return LoadSentencePiece(model_path);
  return absl::NotFoundError(dir + " has neither tokenizer.json nor tokenizer.model");
}

}  // namespace kvc::tokenizer

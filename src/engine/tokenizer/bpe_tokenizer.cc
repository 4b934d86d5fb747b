// Byte-level BPE from a Hugging Face tokenizer.json.
#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include "kvc/common/json.h"
#include "kvc/tokenizer/tokenizer.h"
#include "src/engine/tokenizer/internal/byte_level.h"
#include "src/engine/tokenizer/internal/pretokenizer.h"

namespace kvc::tokenizer {
namespace {

using internal::PreTokenizerFlavor;
using nlohmann::json;

struct AddedToken {
  std::string content;
  int32_t id;
  bool special;
};

class BpeTokenizer final : public Tokenizer {
 public:
  std::vector<int32_t> Encode(std::string_view text, bool parse_special) const override;
  std::string Decode(std::span<const int32_t> ids, bool skip_special) const override;
  std::string TokenBytes(int32_t id, bool first) const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(id_to_bytes_.size()); }
  std::optional<int32_t> TokenId(std::string_view token) const override {
    auto it = vocab_.find(std::string(token));
    if (it == vocab_.end()) return std::nullopt;
    return it->second;
  }
  bool IsSpecial(int32_t id) const override {
    return id >= 0 && static_cast<size_t>(id) < special_.size() && special_[id];
  }
  std::vector<std::string> SpecialTokenTexts() const override {
    std::vector<std::string> out;
    for (const auto& a : added_) {
      if (!a.content.empty()) out.push_back(a.content);
    }
    return out;
  }
  std::string kind() const override { return "byte_level_bpe"; }

  Status Init(const json& j);

 private:
  void EncodeWord(std::string_view word, std::vector<int32_t>* out) const;
  void EncodeOrdinary(std::string_view text, std::vector<int32_t>* out) const;

  std::unordered_map<std::string, int32_t> vocab_;  // vocabulary string -> id
  std::map<std::pair<std::string, std::string>, int> merge_rank_;
  std::vector<std::string> id_to_bytes_;
  std::vector<bool> special_;
  std::vector<AddedToken> added_;  // longest first
  PreTokenizerFlavor flavor_ = PreTokenizerFlavor::kGpt2;
};

Status ParseMerges(const json& merges, std::map<std::pair<std::string, std::string>, int>* out) {
  int rank = 0;
  for (const auto& m : merges) {
    std::string a, b;
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t sp = s.find(' ', 1);
      if (sp == std::string::npos)
        return absl::InvalidArgumentError("tokenizer.json: bad merge '" + s + "'");
      a = s.substr(0, sp);
      b = s.substr(sp + 1);
    } else if (m.is_array() && m.size() == 2) {
      a = m[0].get<std::string>();
      b = m[1].get<std::string>();
    } else {
      return absl::InvalidArgumentError("tokenizer.json: a merge is neither \"a b\" nor [a, b]");
    }
    out->emplace(std::make_pair(a, b), rank++);
  }
  return absl::OkStatus();
}

PreTokenizerFlavor DetectFlavor(const json& j) {
  const std::string text = j.contains("pre_tokenizer") ? kvc::DumpJson(j["pre_tokenizer"]) : "";
  if (text.find("\\\\p{N}{1,3}") != std::string::npos) return PreTokenizerFlavor::kLlama3;
  if (text.find("Split") != std::string::npos && text.find("\\\\p{N}") != std::string::npos &&
      text.find("\\\\r\\\\n\\\\p{L}") != std::string::npos) {
    return PreTokenizerFlavor::kQwen2;
  }
  return PreTokenizerFlavor::kGpt2;
}

// Token ids are integers in [0, kMaxTokenId): the tables below are indexed by id, so a
// float (1e70: undefined on conversion) or a huge id (a multi-GiB table) is refused.
constexpr int64_t kMaxTokenId = int64_t{1} << 22;

StatusOr<int32_t> ReadId(const json& id, const std::string& token) {
  if (!id.is_number_integer() || id.get<int64_t>() < 0 ||
      (id.is_number_unsigned() && id.get<uint64_t>() >= uint64_t{kMaxTokenId}) ||
      id.get<int64_t>() >= kMaxTokenId) {
    return absl::InvalidArgumentError("tokenizer.json: the id of '" + token.substr(0, 64) +
                                      "' is not an integer in [0, " + std::to_string(kMaxTokenId) +
                                      ")");
  }
  return static_cast<int32_t>(id.get<int64_t>());
}

Status BpeTokenizer::Init(const json& j) {
  const json& model = j.at("model");
  if (model.value("type", std::string("BPE")) != "BPE") {
    return absl::UnimplementedError(
        "tokenizer.json: model type " + model.value("type", std::string()) +
        " is not supported (byte-level BPE only; use tokenizer.model for SentencePiece)");
  }
  if (kvc::DumpJson(j).find("ByteLevel") == std::string::npos) {
    return absl::UnimplementedError(
        "tokenizer.json: not a byte-level BPE (no ByteLevel pre-tokenizer/decoder); for "
        "SentencePiece models provide tokenizer.model");
  }
  for (const auto& [tok, id] : model.at("vocab").items()) {
    KVC_ASSIGN_OR_RETURN(vocab_[tok], ReadId(id, tok));
  }
  KVC_RETURN_IF_ERROR(ParseMerges(model.value("merges", json::array()), &merge_rank_));
  if (j.contains("added_tokens") && j["added_tokens"].is_array()) {
    for (const auto& t : j["added_tokens"]) {
      const std::string content = t.at("content").get<std::string>();
      KVC_ASSIGN_OR_RETURN(const int32_t id, ReadId(t.at("id"), content));
      added_.push_back({content, id, t.value("special", false)});
      vocab_[added_.back().content] = added_.back().id;
    }
  }
  std::sort(added_.begin(), added_.end(),
            [](const auto& a, const auto& b) { return a.content.size() > b.content.size(); });
  int32_t max_id = -1;
  for (const auto& [tok, id] : vocab_) max_id = std::max(max_id, id);
  id_to_bytes_.assign(static_cast<size_t>(max_id + 1), "");
  special_.assign(static_cast<size_t>(max_id + 1), false);
  for (const auto& [tok, id] : vocab_) {
    if (id < 0) return absl::InvalidArgumentError("tokenizer.json: negative id for " + tok);
    auto bytes = internal::SymbolsToBytes(tok);
    id_to_bytes_[id] = bytes ? *bytes : tok;
  }
  for (const auto& a : added_) {  // added tokens are literal text, not byte-level symbols
    id_to_bytes_[a.id] = a.content;
    special_[a.id] = a.special;
  }
  for (int b = 0; b < 256; ++b) {
    std::string sym;
    internal::AppendUtf8(internal::ByteToCodePoint(static_cast<uint8_t>(b)), &sym);
    if (!vocab_.count(sym)) {
      return absl::InvalidArgumentError("tokenizer.json: byte-level vocabulary lacks byte " +
                                        std::to_string(b));
    }
  }
  flavor_ = DetectFlavor(j);
  return absl::OkStatus();
}

void BpeTokenizer::EncodeWord(std::string_view word, std::vector<int32_t>* out) const {
  std::vector<std::string> parts = internal::BytesToSymbols(word);
  while (parts.size() > 1) {
    int best_rank = INT32_MAX;
    size_t best = 0;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      auto it = merge_rank_.find({parts[i], parts[i + 1]});
      if (it != merge_rank_.end() && it->second < best_rank) {
        best_rank = it->second;
        best = i;
      }
    }
    if (best_rank == INT32_MAX) break;
    parts[best] += parts[best + 1];
    parts.erase(parts.begin() + static_cast<std::ptrdiff_t>(best) + 1);
  }
  for (const auto& p : parts) {
    auto it = vocab_.find(p);
    if (it != vocab_.end()) {
      out->push_back(it->second);
    } else {  // a merge result missing from the vocabulary: fall back to bytes
      for (const auto& sym : internal::BytesToSymbols(*internal::SymbolsToBytes(p))) {
        out->push_back(vocab_.at(sym));
      }
    }
  }
}

void BpeTokenizer::EncodeOrdinary(std::string_view text, std::vector<int32_t>* out) const {
  for (std::string_view piece : internal::PreTokenize(text, flavor_)) EncodeWord(piece, out);
}

std::vector<int32_t> BpeTokenizer::Encode(std::string_view text, bool parse_special) const {
  std::vector<int32_t> out;
  size_t start = 0, pos = 0;
  while (parse_special && pos < text.size()) {
    const AddedToken* hit = nullptr;
    for (const auto& a : added_) {
      if (!a.content.empty() && text.compare(pos, a.content.size(), a.content) == 0) {
        hit = &a;
        break;
      }
    }
    if (!hit) {
      ++pos;
      continue;
    }
    EncodeOrdinary(text.substr(start, pos - start), &out);
    out.push_back(hit->id);
    pos += hit->content.size();
    start = pos;
  }
  EncodeOrdinary(text.substr(start), &out);
  return out;
}

std::string BpeTokenizer::TokenBytes(int32_t id, bool /*first*/) const {
  if (id < 0 || static_cast<size_t>(id) >= id_to_bytes_.size()) return "";
  return id_to_bytes_[id];
}

std::string BpeTokenizer::Decode(std::span<const int32_t> ids, bool skip_special) const {
  std::string out;
  for (int32_t id : ids) {
    if (skip_special && IsSpecial(id)) continue;
    out += TokenBytes(id, false);
  }
  return out;
}

}  // namespace

StatusOr<std::unique_ptr<Tokenizer>> ParseTokenizerJson(const std::string& json_text) {
  json j = json::parse(json_text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("model")) {
    return absl::InvalidArgumentError("tokenizer.json: not a JSON object with a model");
  }
  auto tok = std::make_unique<BpeTokenizer>();
  try {
    KVC_RETURN_IF_ERROR(tok->Init(j));
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(std::string("tokenizer.json: malformed: ") + e.what());
  }
  return tok;
}

}  // namespace kvc::tokenizer

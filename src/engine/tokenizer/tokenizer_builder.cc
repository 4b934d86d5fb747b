#include "kvc/tokenizer/tokenizer_builder.h"

#include <nlohmann/json.hpp>

#include "kvc/common/json.h"
#include "src/engine/tokenizer/internal/byte_level.h"

namespace kvc::tokenizer {
namespace {

using nlohmann::json;

std::string Symbols(const std::string& bytes) {
  std::string out;
  for (const auto& s : internal::BytesToSymbols(bytes)) out += s;
  return out;
}

constexpr const char* kLlama3Split =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

}  // namespace

std::string BuildByteLevelTokenizerJson(const ByteLevelTokenizerSpec& spec) {
  json vocab = json::object();
  int id = 0;
  for (int b = 0; b < 256; ++b) vocab[Symbols(std::string(1, static_cast<char>(b)))] = id++;
  json merges = json::array();
  for (const auto& [a, b] : spec.merges) {
    merges.push_back(Symbols(a) + " " + Symbols(b));
    const std::string merged = Symbols(a + b);
    if (!vocab.contains(merged)) vocab[merged] = id++;
  }
  json added = json::array();
  for (const auto& s : spec.special_tokens) {
    added.push_back({{"id", id++},
                     {"content", s},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", true}});
  }
  json pre = {{"type", "ByteLevel"},
              {"add_prefix_space", false},
              {"trim_offsets", true},
              {"use_regex", true}};
  if (spec.llama3_pre_tokenizer) {
    pre = {{"type", "Sequence"},
           {"pretokenizers",
            {{{"type", "Split"},
              {"pattern", {{"Regex", kLlama3Split}}},
              {"behavior", "Isolated"},
              {"invert", false}},
             {{"type", "ByteLevel"},
              {"add_prefix_space", false},
              {"trim_offsets", true},
              {"use_regex", false}}}}};
  }
  json doc = {{"version", "1.0"},
              {"truncation", nullptr},
              {"padding", nullptr},
              {"added_tokens", added},
              {"normalizer", nullptr},
              {"pre_tokenizer", pre},
              {"post_processor", nullptr},
              {"decoder",
               {{"type", "ByteLevel"},
                {"add_prefix_space", true},
                {"trim_offsets", true},
                {"use_regex", true}}},
              {"model",
               {{"type", "BPE"},
                {"dropout", nullptr},
                {"unk_token", nullptr},
                {"fuse_unk", false},
                {"byte_fallback", false},
                {"vocab", vocab},
                {"merges", merges}}}};
  return kvc::DumpJson(doc, 1) + "\n";
}

std::vector<std::string> KvcTinySpecialTokens() {
  return {"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
          "<|eot_id|>"};
}

}  // namespace kvc::tokenizer

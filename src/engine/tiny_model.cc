#include "kvc/engine/tiny_model.h"

#include <filesystem>
#include <fstream>

#include "kvc/engine/model_weights.h"
#include "kvc/engine/safetensors.h"
#include "kvc/tokenizer/tokenizer_builder.h"

namespace kvc::engine {
namespace {

Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  if (!out.flush()) return absl::PermissionDeniedError("cannot write " + path);
  return absl::OkStatus();
}

}  // namespace

ModelConfig TinyModelConfig() {
  ModelConfig c;
  c.model_type = "llama";
  c.name_or_path = kTinyModelId;
  c.vocab_size = 256 + static_cast<int64_t>(tokenizer::KvcTinySpecialTokens().size());
  c.hidden_size = 256;
  c.intermediate_size = 688;
  c.num_layers = 4;
  c.num_heads = 8;
  c.num_kv_heads = 2;
  c.head_dim = 32;
  c.max_position_embeddings = 4096;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 500000.0;
  // Untied: with random weights a tied head mostly predicts the current token again
  // (its own embedding has the largest dot product), so greedy output would repeat.
  c.tie_word_embeddings = false;
  c.bos_token_id = 256;          // <|begin_of_text|>
  c.eos_token_ids = {257, 260};  // <|end_of_text|>, <|eot_id|>
  return c;
}

Status WriteTinyModel(const std::string& dir, uint64_t seed) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::PermissionDeniedError("cannot create " + dir + ": " + ec.message());
  const ModelConfig config = TinyModelConfig();
  auto weights = RandomModelWeights(config, seed);
  KVC_RETURN_IF_ERROR(WriteText(dir + "/config.json", ModelConfigToJson(config)));
  KVC_RETURN_IF_ERROR(
      WriteSafetensors(dir + "/model.safetensors", WeightsToTensors(*weights, DType::kF32)));
  tokenizer::ByteLevelTokenizerSpec spec;
  spec.special_tokens = tokenizer::KvcTinySpecialTokens();
  KVC_RETURN_IF_ERROR(
      WriteText(dir + "/tokenizer.json", tokenizer::BuildByteLevelTokenizerJson(spec)));
  KVC_RETURN_IF_ERROR(WriteText(dir + "/tokenizer_config.json",
                                "{\n  \"bos_token\": \"<|begin_of_text|>\",\n  \"eos_token\": "
                                "\"<|eot_id|>\",\n  \"model_max_length\": 4096,\n  "
                                "\"tokenizer_class\": \"PreTrainedTokenizerFast\"\n}\n"));
  return WriteText(dir + "/generation_config.json",
                   "{\n  \"bos_token_id\": 256,\n  \"eos_token_id\": [257, 260],\n  "
                   "\"do_sample\": false\n}\n");
}

std::string ServedModelId(const std::string& dir, const ModelConfig& config) {
  if (!config.name_or_path.empty()) return config.name_or_path;
  return std::filesystem::path(dir).lexically_normal().filename().string();
}

}  // namespace kvc::engine

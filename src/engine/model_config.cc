#include "kvc/engine/model_config.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "kvc/common/json.h"

namespace kvc::engine {
namespace {

using nlohmann::json;

Status GetInt(const json& j, const char* key, bool required, int64_t* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) return absl::InvalidArgumentError(std::string("config.json: missing ") + key);
    return absl::OkStatus();
  }
  if (!it->is_number_integer()) {
    return absl::InvalidArgumentError(std::string("config.json: ") + key + " is not an integer");
  }
  *out = it->get<int64_t>();
  return absl::OkStatus();
}

Status GetDouble(const json& j, const char* key, double* out) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_number()) {
    return absl::InvalidArgumentError(std::string("config.json: ") + key + " is not a number");
  }
  *out = it->get<double>();
  return absl::OkStatus();
}

Status ParseRopeScaling(const json& j, RopeScaling* out) {
  auto it = j.find("rope_scaling");
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_object())
    return absl::InvalidArgumentError("config.json: rope_scaling is not an object");
  std::string type = it->value("rope_type", it->value("type", std::string()));
  if (type == "default") return absl::OkStatus();  // plain RoPE, written explicitly
  if (type != "llama3") {
    return absl::UnimplementedError("config.json: rope_scaling type '" + type +
                                    "' is not supported (only 'llama3')");
  }
  out->enabled = true;
  KVC_RETURN_IF_ERROR(GetDouble(*it, "factor", &out->factor));
  KVC_RETURN_IF_ERROR(GetDouble(*it, "low_freq_factor", &out->low_freq_factor));
  KVC_RETURN_IF_ERROR(GetDouble(*it, "high_freq_factor", &out->high_freq_factor));
  return GetInt(*it, "original_max_position_embeddings", false, &out->original_max_position);
}

Status ParseEos(const json& j, ModelConfig* c) {
  auto it = j.find("eos_token_id");
  if (it == j.end() || it->is_null()) return absl::OkStatus();
  if (it->is_number_integer()) {
    c->eos_token_ids.push_back(it->get<int64_t>());
    return absl::OkStatus();
  }
  if (!it->is_array())
    return absl::InvalidArgumentError("config.json: eos_token_id is not an integer or list");
  for (const auto& e : *it) {
    if (!e.is_number_integer())
      return absl::InvalidArgumentError("config.json: eos_token_id list holds a non-integer");
    c->eos_token_ids.push_back(e.get<int64_t>());
  }
  return absl::OkStatus();
}

Status ParseFields(const json& j, ModelConfig* c) {
  c->model_type = j.value("model_type", std::string("llama"));
  c->name_or_path = j.value("_name_or_path", std::string());
  KVC_RETURN_IF_ERROR(GetInt(j, "vocab_size", true, &c->vocab_size));
  KVC_RETURN_IF_ERROR(GetInt(j, "hidden_size", true, &c->hidden_size));
  KVC_RETURN_IF_ERROR(GetInt(j, "intermediate_size", true, &c->intermediate_size));
  KVC_RETURN_IF_ERROR(GetInt(j, "num_hidden_layers", true, &c->num_layers));
  KVC_RETURN_IF_ERROR(GetInt(j, "num_attention_heads", true, &c->num_heads));
  c->num_kv_heads = c->num_heads;
  KVC_RETURN_IF_ERROR(GetInt(j, "num_key_value_heads", false, &c->num_kv_heads));
  if (c->num_heads > 0) c->head_dim = c->hidden_size / c->num_heads;
  KVC_RETURN_IF_ERROR(GetInt(j, "head_dim", false, &c->head_dim));
  KVC_RETURN_IF_ERROR(GetInt(j, "max_position_embeddings", false, &c->max_position_embeddings));
  KVC_RETURN_IF_ERROR(GetDouble(j, "rms_norm_eps", &c->rms_norm_eps));
  KVC_RETURN_IF_ERROR(GetDouble(j, "rope_theta", &c->rope_theta));
  KVC_RETURN_IF_ERROR(ParseRopeScaling(j, &c->rope_scaling));
  c->tie_word_embeddings = j.value("tie_word_embeddings", false);
  c->attention_bias = j.value("attention_bias", c->model_type == "qwen2");
  KVC_RETURN_IF_ERROR(GetInt(j, "bos_token_id", false, &c->bos_token_id));
  KVC_RETURN_IF_ERROR(ParseEos(j, c));
  c->torch_dtype = j.value("torch_dtype", std::string("float32"));
  return absl::OkStatus();
}

}  // namespace

StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text) {
  json j = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("config.json: not a JSON object");
  }
  ModelConfig c;
  try {
    KVC_RETURN_IF_ERROR(ParseFields(j, &c));
  } catch (const json::exception& e) {
    return absl::InvalidArgumentError(std::string("config.json: wrong field type: ") + e.what());
  }
  KVC_RETURN_IF_ERROR(ValidateModelConfig(c));
  return c;
}

StatusOr<ModelConfig> LoadModelConfig(const std::string& model_dir) {
  const std::string path = model_dir + "/config.json";
  std::ifstream in(path);
  if (!in) return absl::NotFoundError("cannot open " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  auto config = ParseModelConfig(ss.str());
  if (!config.ok()) {
    return absl::Status(config.status().code(),
                        path + ": " + std::string(config.status().message()));
  }
  return config;
}

Status ValidateModelConfig(const ModelConfig& c) {
  auto bad = [](const std::string& what) {
    return absl::InvalidArgumentError("config.json: " + what);
  };
  if (c.vocab_size <= 0) return bad("vocab_size must be positive");
  if (c.hidden_size <= 0) return bad("hidden_size must be positive");
  if (c.intermediate_size <= 0) return bad("intermediate_size must be positive");
  if (c.num_layers <= 0) return bad("num_hidden_layers must be positive");
  if (c.num_heads <= 0) return bad("num_attention_heads must be positive");
  if (c.num_kv_heads <= 0 || c.num_heads % c.num_kv_heads != 0) {
    return bad("num_key_value_heads must be positive and divide num_attention_heads");
  }
  if (c.head_dim <= 0 || c.head_dim % 2 != 0) return bad("head_dim must be positive and even");
  if (c.rope_theta <= 0) return bad("rope_theta must be positive");
  if (c.rms_norm_eps <= 0) return bad("rms_norm_eps must be positive");
  return absl::OkStatus();
}

std::string ModelConfigToJson(const ModelConfig& c) {
  json j = {{"architectures", {c.model_type == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"}},
            {"model_type", c.model_type},
            {"vocab_size", c.vocab_size},
            {"hidden_size", c.hidden_size},
            {"intermediate_size", c.intermediate_size},
            {"num_hidden_layers", c.num_layers},
            {"num_attention_heads", c.num_heads},
            {"num_key_value_heads", c.num_kv_heads},
            {"head_dim", c.head_dim},
            {"max_position_embeddings", c.max_position_embeddings},
            {"rms_norm_eps", c.rms_norm_eps},
            {"rope_theta", c.rope_theta},
            {"tie_word_embeddings", c.tie_word_embeddings},
            {"attention_bias", c.attention_bias},
            {"hidden_act", "silu"},
            {"torch_dtype", c.torch_dtype}};
  if (c.rope_scaling.enabled) {
    j["rope_scaling"] = {
        {"rope_type", "llama3"},
        {"factor", c.rope_scaling.factor},
        {"low_freq_factor", c.rope_scaling.low_freq_factor},
        {"high_freq_factor", c.rope_scaling.high_freq_factor},
        {"original_max_position_embeddings", c.rope_scaling.original_max_position}};
  }
  if (!c.name_or_path.empty()) j["_name_or_path"] = c.name_or_path;
  if (c.bos_token_id >= 0) j["bos_token_id"] = c.bos_token_id;
  if (c.eos_token_ids.size() == 1) j["eos_token_id"] = c.eos_token_ids[0];
  if (c.eos_token_ids.size() > 1) j["eos_token_id"] = c.eos_token_ids;
  return kvc::DumpJson(j, 2) + "\n";
}

}  // namespace kvc::engine

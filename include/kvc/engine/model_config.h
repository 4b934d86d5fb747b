// The architecture hyper-parameters of a Llama-family model, read from a Hugging
// Face config.json (Llama 2/3, Qwen2, Mistral, SmolLM, TinyLlama). Plain value type.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kvc/common/status.h"

namespace kvc::engine {

// Llama-3 style RoPE frequency scaling ("rope_scaling": {"rope_type": "llama3", ...}).
struct RopeScaling {
  bool enabled = false;           // false: plain RoPE with rope_theta
  double factor = 8.0;            // wavelengths above the low-freq cutoff are divided by this
  double low_freq_factor = 1.0;   // cutoff = original_max / low_freq_factor
  double high_freq_factor = 4.0;  // cutoff = original_max / high_freq_factor
  int64_t original_max_position = 8192;  // "original_max_position_embeddings"
};

struct ModelConfig {
  std::string model_type = "llama";  // "llama", "qwen2", "mistral", ... (chooses defaults only)
  std::string name_or_path;          // "_name_or_path"; the served model id when set (kvc-tiny)
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;        // d
  int64_t intermediate_size = 0;  // SwiGLU width
  int64_t num_layers = 0;         // "num_hidden_layers"
  int64_t num_heads = 0;          // "num_attention_heads"
  int64_t num_kv_heads = 0;       // "num_key_value_heads"; defaults to num_heads (no GQA)
  int64_t head_dim = 0;           // "head_dim"; defaults to hidden_size / num_heads
  int64_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;  // lm_head shares model.embed_tokens.weight
  bool attention_bias = false;       // q/k/v projections carry a bias (true for qwen2)
  int64_t bos_token_id = -1;         // -1 when the config has none
  std::vector<int64_t> eos_token_ids;
  std::string torch_dtype = "float32";  // on-disk dtype hint only; compute is per backend

  // KV elements of one token in one layer: 2 (K and V) * num_kv_heads * head_dim.
  int64_t KvElementsPerTokenPerLayer() const { return 2 * num_kv_heads * head_dim; }
};

// Parses a config.json document. Errors name the missing or invalid field.
[[nodiscard]] StatusOr<ModelConfig> ParseModelConfig(const std::string& json_text);
// Reads and parses DIR/config.json.
[[nodiscard]] StatusOr<ModelConfig> LoadModelConfig(const std::string& model_dir);
// Serialises to config.json form (the fields above, Hugging Face names).
std::string ModelConfigToJson(const ModelConfig& config);
// Checks internal consistency (positive sizes, heads divide evenly, ...).
[[nodiscard]] Status ValidateModelConfig(const ModelConfig& config);

}  // namespace kvc::engine

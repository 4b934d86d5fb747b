// The weights of a Llama-family model held as f32 on the host, in Hugging Face
// layout (a projection W is [out_features, in_features], row-major). Immutable
// after loading; safe to share between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kvc/common/status.h"
#include "kvc/engine/model_config.h"
#include "kvc/engine/safetensors.h"

namespace kvc::engine {

struct LayerWeights {
  std::vector<float> input_norm;      // [d]
  std::vector<float> wq, wk, wv, wo;  // [h*hd, d], [kv*hd, d], [kv*hd, d], [d, h*hd]
  std::vector<float> bq, bk, bv;      // biases, empty unless config.attention_bias
  std::vector<float> post_norm;       // [d]
  std::vector<float> w_gate, w_up;    // [i, d]
  std::vector<float> w_down;          // [d, i]
};

struct ModelWeights {
  ModelConfig config;
  std::vector<float> embed;  // [vocab, d]
  std::vector<LayerWeights> layers;
  std::vector<float> final_norm;  // [d]
  std::vector<float> lm_head;     // [vocab, d]; empty when tie_word_embeddings

  const std::vector<float>& output_matrix() const { return lm_head.empty() ? embed : lm_head; }
};

// Loads DIR/config.json and the safetensors weights. Every expected tensor must exist
// with the expected shape; the error names the first one that does not.
[[nodiscard]] StatusOr<std::unique_ptr<ModelWeights>> LoadModelWeights(const std::string& dir);

// Builds weights for `config` from safetensors already opened.
[[nodiscard]] StatusOr<std::unique_ptr<ModelWeights>> WeightsFromSafetensors(
    const ModelConfig& config, const SafetensorsModel& files);

// Deterministic pseudo-random weights: N(0, 1/sqrt(fan_in)) projections, norms near 1.
std::unique_ptr<ModelWeights> RandomModelWeights(const ModelConfig& config, uint64_t seed);

// The weights as named tensors (Hugging Face names) stored as `dtype`.
std::vector<TensorToWrite> WeightsToTensors(const ModelWeights& weights, DType dtype);

}  // namespace kvc::engine

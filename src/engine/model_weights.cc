#include "kvc/engine/model_weights.h"

#include <cmath>
#include <functional>
#include <random>

namespace kvc::engine {
namespace {

// Calls `visit(name, shape, &field)` for every tensor the config expects.
using Visitor =
    std::function<Status(const std::string&, const std::vector<int64_t>&, std::vector<float>*)>;

Status VisitTensors(const ModelConfig& c, ModelWeights& w, const Visitor& visit) {
  const int64_t d = c.hidden_size, q = c.num_heads * c.head_dim, kv = c.num_kv_heads * c.head_dim,
                i = c.intermediate_size;
  KVC_RETURN_IF_ERROR(visit("model.embed_tokens.weight", {c.vocab_size, d}, &w.embed));
  w.layers.resize(static_cast<size_t>(c.num_layers));
  for (int64_t l = 0; l < c.num_layers; ++l) {
    LayerWeights& L = w.layers[static_cast<size_t>(l)];
    const std::string p = "model.layers." + std::to_string(l) + ".";
    KVC_RETURN_IF_ERROR(visit(p + "input_layernorm.weight", {d}, &L.input_norm));
    KVC_RETURN_IF_ERROR(visit(p + "self_attn.q_proj.weight", {q, d}, &L.wq));
    KVC_RETURN_IF_ERROR(visit(p + "self_attn.k_proj.weight", {kv, d}, &L.wk));
    KVC_RETURN_IF_ERROR(visit(p + "self_attn.v_proj.weight", {kv, d}, &L.wv));
    if (c.attention_bias) {
      KVC_RETURN_IF_ERROR(visit(p + "self_attn.q_proj.bias", {q}, &L.bq));
      KVC_RETURN_IF_ERROR(visit(p + "self_attn.k_proj.bias", {kv}, &L.bk));
      KVC_RETURN_IF_ERROR(visit(p + "self_attn.v_proj.bias", {kv}, &L.bv));
    }
    KVC_RETURN_IF_ERROR(visit(p + "self_attn.o_proj.weight", {d, q}, &L.wo));
    KVC_RETURN_IF_ERROR(visit(p + "post_attention_layernorm.weight", {d}, &L.post_norm));
    KVC_RETURN_IF_ERROR(visit(p + "mlp.gate_proj.weight", {i, d}, &L.w_gate));
    KVC_RETURN_IF_ERROR(visit(p + "mlp.up_proj.weight", {i, d}, &L.w_up));
    KVC_RETURN_IF_ERROR(visit(p + "mlp.down_proj.weight", {d, i}, &L.w_down));
  }
  KVC_RETURN_IF_ERROR(visit("model.norm.weight", {d}, &w.final_norm));
  if (!c.tie_word_embeddings) {
    KVC_RETURN_IF_ERROR(visit("lm_head.weight", {c.vocab_size, d}, &w.lm_head));
  }
  return absl::OkStatus();
}

int64_t Numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t s : shape) n *= s;
  return n;
}

}  // namespace

StatusOr<std::unique_ptr<ModelWeights>> WeightsFromSafetensors(const ModelConfig& config,
                                                               const SafetensorsModel& files) {
  auto w = std::make_unique<ModelWeights>();
  w->config = config;
  KVC_RETURN_IF_ERROR(VisitTensors(
      config, *w,
      [&](const std::string& name, const auto& shape, std::vector<float>* out) -> Status {
        KVC_ASSIGN_OR_RETURN(*out, files.LoadF32(name, shape));
        return absl::OkStatus();
      }));
  return w;
}

StatusOr<std::unique_ptr<ModelWeights>> LoadModelWeights(const std::string& dir) {
  KVC_ASSIGN_OR_RETURN(ModelConfig config, LoadModelConfig(dir));
  KVC_ASSIGN_OR_RETURN(auto files, SafetensorsModel::Open(dir));
  auto weights = WeightsFromSafetensors(config, *files);
  if (!weights.ok()) {
    return absl::Status(weights.status().code(),
                        dir + ": " + std::string(weights.status().message()));
  }
  return weights;
}

std::unique_ptr<ModelWeights> RandomModelWeights(const ModelConfig& config, uint64_t seed) {
  auto w = std::make_unique<ModelWeights>();
  w->config = config;
  std::mt19937_64 rng(seed);
  Status s = VisitTensors(
      config, *w,
      [&](const std::string& name, const auto& shape, std::vector<float>* out) -> Status {
        out->resize(static_cast<size_t>(Numel(shape)));
        const bool is_norm = name.find("norm") != std::string::npos;
        const bool is_bias = name.find(".bias") != std::string::npos;
        const double fan_in = static_cast<double>(shape.back());
        std::normal_distribution<float> dist(
            0.0f, is_norm ? 0.1f : (is_bias ? 0.1f : static_cast<float>(1.0 / std::sqrt(fan_in))));
        for (float& v : *out) v = (is_norm ? 1.0f : 0.0f) + dist(rng);
        return absl::OkStatus();
      });
  (void)s;  // the visitor above cannot fail
  return w;
}

std::vector<TensorToWrite> WeightsToTensors(const ModelWeights& weights, DType dtype) {
  std::vector<TensorToWrite> out;
  ModelWeights& w = const_cast<ModelWeights&>(weights);  // VisitTensors only reads here
  Status s = VisitTensors(
      weights.config, w,
      [&](const std::string& name, const auto& shape, std::vector<float>* field) -> Status {
        out.push_back(TensorToWrite{name, shape, *field, dtype});
        return absl::OkStatus();
      });
  (void)s;
  return out;
}

}  // namespace kvc::engine

// kvc-tiny, the built-in model: a small Llama-architecture model (4 layers, d=256,
// GQA 8/2 heads, byte-level tokenizer with Llama-3 chat tokens) whose weights come
// from a seed, written in the files a real Hugging Face checkpoint uses, so a cluster
// runs anywhere with zero downloads. Its weights are random: the text it writes is
// not meaningful, but every computation on it is the real one.
#pragma once

#include <cstdint>
#include <string>

#include "kvc/common/status.h"
#include "kvc/engine/model_config.h"

namespace kvc::engine {

inline constexpr const char* kTinyModelId = "kvc-tiny";

// The architecture of kvc-tiny.
ModelConfig TinyModelConfig();

// Writes config.json, model.safetensors (f32), tokenizer.json, tokenizer_config.json
// and generation_config.json into `dir` (created if missing). Same seed -> identical
// files. Fails when the directory cannot be written.
[[nodiscard]] Status WriteTinyModel(const std::string& dir, uint64_t seed);

// The id a model directory is served under: config.json's "_name_or_path" when set,
// else the directory's base name.
std::string ServedModelId(const std::string& dir, const ModelConfig& config);

}  // namespace kvc::engine

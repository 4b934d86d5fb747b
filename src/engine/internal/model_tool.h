// The subcommands of kvc-model (see kvc_model_main.cc). Each returns the exit code:
// 0 success, 1 runtime failure (message on stderr), 2 bad arguments.
#pragma once

#include <cstdint>
#include <string>

#include "kvc/engine/backend.h"
#include "kvc/engine/sampler.h"

namespace kvc::engine::tool {

struct InitArgs {
  std::string out;
  uint64_t seed = 0;
};

struct GenerateArgs {
  std::string model;
  std::string prompt;
  int64_t max_tokens = 32;
  int64_t prefill_chunk = 0;
  bool chat = false;
  std::string chat_template;  // overrides the model's Jinja chat template ("" = its own)
  bool json = false;
  EngineOptions engine;
  SamplingOptions sampling;
};

// kvc-model tokenize: the token ids of --text (as a completion prompt: BOS + text), or
// with --chat of a one-user-message conversation through the chat template.
struct TokenizeArgs {
  std::string model;
  std::string text;
  bool chat = false;
  bool add_generation_prompt = true;  // --chat only
  std::string chat_template;
  bool json = false;  // {"count", "max_model_len", "tokens"} (vLLM's /tokenize shape)
};

struct BenchArgs {
  std::string model;
  int64_t prompt_tokens = 128;
  int64_t batch = 1;
  int64_t decode_tokens = 32;
  EngineOptions engine;
};

int RunInit(const InitArgs& args);
int RunGenerate(GenerateArgs args);
int RunBench(const BenchArgs& args);
int RunTokenize(const TokenizeArgs& args);

}  // namespace kvc::engine::tool

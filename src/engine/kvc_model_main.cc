// kvc-model: write the built-in model, generate text, benchmark the engine.
//   kvc-model init --out DIR [--seed S]
//   kvc-model generate --model DIR --prompt TEXT --max-tokens N [--prefill-chunk K]
//                      [--backend cpu|cuda|sim] [--chat] [--json]
//   kvc-model tokenize --model DIR --text TEXT [--chat] [--no-generation-prompt]
//                      [--chat-template FILE] [--json]
//   kvc-model bench --model DIR [--backend ...] [--prompt-tokens P] [--batch B]
#include <CLI/CLI.hpp>
#include <iostream>

#include "src/engine/internal/model_tool.h"

int main(int argc, char** argv) {
  CLI::App app{"kvc-model: write the built-in kvc-tiny model, generate text, benchmark the engine"};
  app.require_subcommand(1);
  kvc::engine::tool::InitArgs init;
  auto* init_cmd = app.add_subcommand("init", "write the built-in kvc-tiny model into a directory");
  init_cmd->add_option("--out", init.out, "output directory")->required();
  init_cmd->add_option("--seed", init.seed, "weight seed (same seed -> same files)");

  kvc::engine::tool::GenerateArgs gen;
  auto* gen_cmd = app.add_subcommand("generate", "generate a completion for a prompt");
  gen_cmd->add_option("--model", gen.model, "model directory")->required();
  gen_cmd->add_option("--prompt", gen.prompt, "prompt text")->required();
  gen_cmd->add_option("--max-tokens", gen.max_tokens, "tokens to generate at most");
  gen_cmd->add_option("--prefill-chunk", gen.prefill_chunk,
                      "prefill chunk in tokens (0 = whole prompt)");
  gen_cmd->add_option("--backend", gen.engine.backend, "cpu, cuda or sim");
  gen_cmd->add_option("--threads", gen.engine.threads, "CPU threads (0 = all)");
  gen_cmd->add_option("--sim-preset", gen.engine.sim_preset, "sim backend: perfmodel preset");
  gen_cmd->add_option("--sim-time-scale", gen.engine.sim_time_scale,
                      "sim backend: wall s per modelled s");
  gen_cmd->add_option("--temperature", gen.sampling.temperature, "0 = greedy");
  gen_cmd->add_option("--top-k", gen.sampling.top_k, "0 = off");
  gen_cmd->add_option("--top-p", gen.sampling.top_p, "1 = off");
  gen_cmd->add_option("--seed", gen.sampling.seed, "sampling seed");
  gen_cmd->add_option("--stop", gen.sampling.stop_strings, "stop string (repeatable)");
  gen_cmd->add_flag("--ignore-eos", gen.sampling.ignore_eos, "keep going past EOS");
  gen_cmd->add_flag("--chat", gen.chat, "wrap the prompt in the model's chat template");
  gen_cmd->add_option("--chat-template", gen.chat_template,
                      "Jinja chat template file overriding the model's (with --chat)");
  gen_cmd->add_flag("--json", gen.json, "print one JSON object");

  kvc::engine::tool::TokenizeArgs tokenize;
  auto* tok_cmd = app.add_subcommand("tokenize", "print the token ids of a text or chat prompt");
  tok_cmd->add_option("--model", tokenize.model, "model directory")->required();
  tok_cmd->add_option("--text", tokenize.text, "the text")->required();
  tok_cmd->add_flag("--chat", tokenize.chat, "as one user message through the chat template");
  tok_cmd->add_flag("!--no-generation-prompt", tokenize.add_generation_prompt,
                    "with --chat: do not end with the assistant's turn header");
  tok_cmd->add_option("--chat-template", tokenize.chat_template,
                      "Jinja chat template file overriding the model's (with --chat)");
  tok_cmd->add_flag("--json", tokenize.json,
                    "print {\"count\", \"max_model_len\", \"tokens\"} (vLLM /tokenize shape)");

  kvc::engine::tool::BenchArgs bench;
  auto* bench_cmd = app.add_subcommand("bench", "measure prefill and decode tokens/s");
  bench_cmd->add_option("--model", bench.model, "model directory")->required();
  bench_cmd->add_option("--backend", bench.engine.backend, "cpu, cuda or sim");
  bench_cmd->add_option("--threads", bench.engine.threads, "CPU threads (0 = all)");
  bench_cmd->add_option("--sim-preset", bench.engine.sim_preset, "sim backend: perfmodel preset");
  bench_cmd->add_option("--sim-time-scale", bench.engine.sim_time_scale,
                        "sim backend: wall s per modelled s");
  bench_cmd->add_option("--prompt-tokens", bench.prompt_tokens, "prompt length");
  bench_cmd->add_option("--batch", bench.batch, "requests decoded together");
  bench_cmd->add_option("--decode-tokens", bench.decode_tokens, "tokens generated per request");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;  // --help: 0; usage errors: 2, as every kvc binary
  }
  if (init_cmd->parsed()) return kvc::engine::tool::RunInit(init);
  if (gen_cmd->parsed()) return kvc::engine::tool::RunGenerate(gen);
  if (tok_cmd->parsed()) return kvc::engine::tool::RunTokenize(tokenize);
  return kvc::engine::tool::RunBench(bench);
}

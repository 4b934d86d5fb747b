#include "src/engine/internal/model_tool.h"

#include <cblas.h>

#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "kvc/common/json.h"
#include "kvc/engine/generator.h"
#include "kvc/engine/tiny_model.h"
#include "kvc/tokenizer/chat_format.h"

namespace kvc::engine::tool {
namespace {

int Fail(const Status& s) {
  std::cerr << "kvc-model: " << s.ToString() << "\n";
  return s.code() == absl::StatusCode::kInvalidArgument ? 2 : 1;
}

// The prompt's ids: with `chat` (non-null) one user message through the chat format,
// else BOS + the text (special tokens not parsed).
StatusOr<std::vector<int32_t>> PromptIds(const tokenizer::Tokenizer& tok, const ModelConfig& config,
                                         const std::string& prompt,
                                         const tokenizer::ChatFormat* chat,
                                         bool add_generation_prompt = true) {
  if (chat != nullptr) {
    const std::vector<tokenizer::ChatMessage> msgs = {{"user", prompt}};
    return chat->Encode(msgs, add_generation_prompt);
  }
  std::vector<int32_t> ids;
  if (config.bos_token_id >= 0) ids.push_back(static_cast<int32_t>(config.bos_token_id));
  const auto text = tok.Encode(prompt, /*parse_special=*/false);
  ids.insert(ids.end(), text.begin(), text.end());
  return ids;
}

// The reference measured in the same run: OpenBLAS sgemm GFLOP/s on a 512^3 product
// (what the CPU backend's projections run on), best of a few repetitions.
double ReferenceSgemmGflops() {
  const int n = 512;
  std::vector<float> a(n * n, 0.5f), b(n * n, 0.25f), c(n * n);
  double best = 0;
  for (int rep = 0; rep < 5; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, n, 1.0f, a.data(), n, b.data(), n,
                0.0f, c.data(), n);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 2.0 * n * n * n / s / 1e9);
  }
  return best;
}

// Matmul FLOPs per token of the weights (2 per parameter touched), ignoring attention.
double WeightFlopsPerToken(const ModelConfig& c) {
  const double d = static_cast<double>(c.hidden_size), hd = static_cast<double>(c.head_dim);
  const double per_layer =
      d * hd *
          (2.0 * static_cast<double>(c.num_heads) + 2.0 * static_cast<double>(c.num_kv_heads)) +
      3.0 * d * static_cast<double>(c.intermediate_size);
  return 2.0 *
         (per_layer * static_cast<double>(c.num_layers) + d * static_cast<double>(c.vocab_size));
}

}  // namespace

int RunInit(const InitArgs& args) {
  Status s = WriteTinyModel(args.out, args.seed);
  if (!s.ok()) return Fail(s);
  std::cout << "wrote " << kTinyModelId << " (seed " << args.seed << ") to " << args.out << "\n";
  return 0;
}

int RunGenerate(GenerateArgs args) {
  args.sampling.max_tokens = args.max_tokens;
  if (Status s = ValidateSamplingOptions(args.sampling); !s.ok()) return Fail(s);
  if (args.prefill_chunk < 0)
    return Fail(absl::InvalidArgumentError("--prefill-chunk must be >= 0"));
  auto tok = tokenizer::LoadTokenizer(args.model);
  if (!tok.ok()) return Fail(tok.status());
  auto engine = NewEngine(args.model, args.engine);
  if (!engine.ok()) return Fail(engine.status());
  std::optional<tokenizer::ChatFormat> chat;
  if (args.chat) {
    auto format = tokenizer::ChatFormat::Load(args.model, **tok, args.chat_template);
    if (!format.ok()) return Fail(format.status());
    chat = std::move(*format);
    for (const auto& t : chat->stop_tokens()) {
      if (auto id = (*tok)->TokenId(t)) args.sampling.stop_token_ids.push_back(*id);
    }
  }
  auto prompt_ids = PromptIds(**tok, (*engine)->config(), args.prompt, chat ? &*chat : nullptr);
  if (!prompt_ids.ok()) return Fail(prompt_ids.status());
  const auto& ids = *prompt_ids;
  const auto t0 = std::chrono::steady_clock::now();
  auto result = Generate(**engine, tok->get(), ids, args.sampling, args.prefill_chunk);
  if (!result.ok()) return Fail(result.status());
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!args.json) {
    std::cout << result->text << "\n";
    return 0;
  }
  nlohmann::json j = {{"text", result->text},
                      {"token_ids", result->token_ids},
                      {"prompt_tokens", result->prompt_tokens},
                      {"seconds", seconds},
                      {"finish_reason", result->finish_reason},
                      {"backend", (*engine)->backend()}};
  // Invalid UTF-8 (a random model can end on half a character) is replaced, not fatal.
  std::cout << kvc::DumpJson(j) << "\n";
  return 0;
}

int RunBench(const BenchArgs& args) {
  if (args.prompt_tokens < 1 || args.batch < 1 || args.decode_tokens < 2) {
    return Fail(absl::InvalidArgumentError(
        "--prompt-tokens and --batch must be >= 1, --decode-tokens >= 2"));
  }
  EngineOptions eo = args.engine;
  const int64_t per_request = args.prompt_tokens + args.decode_tokens;
  eo.num_blocks = args.batch * ((per_request + eo.block_tokens - 1) / eo.block_tokens + 1);
  auto engine = NewEngine(args.model, eo);
  if (!engine.ok()) return Fail(engine.status());
  const auto vocab = (*engine)->config().vocab_size;
  std::vector<std::vector<int32_t>> prompts(static_cast<size_t>(args.batch));
  for (size_t b = 0; b < prompts.size(); ++b) {  // deterministic, distinct prompts
    for (int64_t i = 0; i < args.prompt_tokens; ++i) {
      prompts[b].push_back(static_cast<int32_t>((i * 31 + static_cast<int64_t>(b) * 7 + 3) %
                                                std::min<int64_t>(vocab, 256)));
    }
  }
  SamplingOptions so;
  so.max_tokens = args.decode_tokens;
  so.ignore_eos = true;
  auto results = GenerateBatch(**engine, nullptr, prompts, so);
  if (!results.ok()) return Fail(results.status());
  double prefill_s = 0;
  for (const auto& r : *results) prefill_s += r.prefill_seconds;
  const double decode_s = (*results)[0].decode_seconds;
  const double prefill_tps = static_cast<double>(args.batch * args.prompt_tokens) / prefill_s;
  // The first token of each request comes from prefill; decode steps make the rest.
  const double decode_tps = static_cast<double>(args.batch * (args.decode_tokens - 1)) / decode_s;
  std::cout << "backend " << (*engine)->backend() << ", prompt " << args.prompt_tokens
            << " tokens, batch " << args.batch << ", " << args.decode_tokens
            << " tokens per request\n";
  std::cout << "prefill: " << prefill_tps << " tokens/s (" << prefill_s << " s)\n";
  std::cout << "decode: " << decode_tps << " tokens/s (" << decode_s << " s)\n";
  nlohmann::json j = {{"prefill_tokens_per_second", prefill_tps},
                      {"decode_tokens_per_second", decode_tps},
                      {"backend", (*engine)->backend()},
                      {"prompt_tokens", args.prompt_tokens},
                      {"batch", args.batch},
                      {"decode_tokens", args.decode_tokens}};
  if ((*engine)->backend() != "sim") {  // the sim's config has no real MLP width
    j["weight_gflops_per_token"] = WeightFlopsPerToken((*engine)->config()) / 1e9;
  }
  if ((*engine)->backend() == "cpu") {
    const double ref = ReferenceSgemmGflops();
    std::cout << "reference: OpenBLAS sgemm 512^3 " << ref << " GFLOP/s; prefill runs at "
              << prefill_tps * WeightFlopsPerToken((*engine)->config()) / 1e9 / ref * 100
              << "% of it (weight matmuls only)\n";
    j["reference_sgemm_gflops"] = ref;
  }
  std::cout << kvc::DumpJson(j) << "\n";
  return 0;
}

int RunTokenize(const TokenizeArgs& args) {
  auto tok = tokenizer::LoadTokenizer(args.model);
  if (!tok.ok()) return Fail(tok.status());
  auto config = LoadModelConfig(args.model);
  if (!config.ok()) return Fail(config.status());
  std::optional<tokenizer::ChatFormat> chat;
  if (args.chat) {
    auto format = tokenizer::ChatFormat::Load(args.model, **tok, args.chat_template);
    if (!format.ok()) return Fail(format.status());
    chat = std::move(*format);
  }
  auto ids =
      PromptIds(**tok, *config, args.text, chat ? &*chat : nullptr, args.add_generation_prompt);
  if (!ids.ok()) return Fail(ids.status());
  if (args.json) {
    nlohmann::json out = {{"count", ids->size()},
                          {"max_model_len", config->max_position_embeddings},
                          {"tokens", *ids}};
    std::cout << DumpJson(out) << "\n";
  } else {
    for (size_t i = 0; i < ids->size(); ++i) std::cout << (i ? " " : "") << (*ids)[i];
    std::cout << "\n";
  }
  return 0;
}

}  // namespace kvc::engine::tool

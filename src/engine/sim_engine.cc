#include "kvc/engine/sim_engine.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "kvc/perfmodel/perf_model.h"

namespace kvc::engine {
namespace {

uint64_t Mix(uint64_t x) {  // splitmix64 finaliser
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

class SimEngine final : public Engine {
 public:
  SimEngine(const SimEngineOptions& o, perfmodel::PerfSpec spec, ModelConfig config)
      : o_(o),
        perf_(std::move(spec)),
        c_(std::move(config)),
        cache_(KvCacheGeometry{c_.num_layers, o.block_tokens, o.kv_bytes_per_token / c_.num_layers,
                               0, 0},
               o.num_blocks, o.kv_arena) {}

  const ModelConfig& config() const override { return c_; }
  KvCache& cache() override { return cache_; }
  std::string backend() const override { return "sim"; }

  StatusOr<std::vector<float>> Prefill(Sequence& seq, std::span<const int32_t> prompt,
                                       int64_t cached_prefix, int64_t chunk_tokens,
                                       const LayerReadyHook& hook) override {
    KVC_RETURN_IF_ERROR(ValidatePrefill(c_, o_.block_tokens, seq, prompt, cached_prefix));
    const auto n = static_cast<int64_t>(prompt.size());
    KVC_RETURN_IF_ERROR(EnsureBlocks(seq, n));
    seq.tokens = std::vector<int32_t>(prompt.begin(), prompt.end());  // prompt may alias seq.tokens
    const int64_t chunk = chunk_tokens <= 0 ? n : chunk_tokens;
    // A fully cached prompt still recomputes its last token (same KV) to get logits.
    const int64_t start = std::min(cached_prefix, n - 1);
    StartWaits();
    for (int64_t begin = start; begin < n; begin += chunk) {
      const int64_t end = std::min(n, begin + chunk);
      // Chunks telescope: sum over chunks of F(end) - F(begin) = F(n) - F(cached).
      const double per_layer =
          perf_.PrefillSeconds(end, begin) / static_cast<double>(c_.num_layers);
      for (int64_t l = 0; l < c_.num_layers; ++l) {
        for (int64_t pos = begin; pos < end; ++pos) WriteKv(seq, l, pos);
        Wait(per_layer);  // the bookkeeping above is part of the modelled time
        if (hook) hook(l, begin, end);
      }
      seq.num_computed = end;
    }
    return OneHot(SimNextToken(seq.tokens.back(), n - 1, c_.vocab_size));
  }

  StatusOr<std::vector<std::vector<float>>> DecodeStep(std::span<Sequence* const> batch) override {
    StartWaits();  // bookkeeping until the wait counts towards the modelled step time
    KVC_RETURN_IF_ERROR(ValidateDecodeBatch(c_, batch));
    int64_t context = 0;
    for (Sequence* s : batch) {
      KVC_RETURN_IF_ERROR(EnsureBlocks(*s, static_cast<int64_t>(s->tokens.size())));
      context += static_cast<int64_t>(s->tokens.size());
    }
    std::vector<std::vector<float>> out;
    for (Sequence* s : batch) {
      const int64_t pos = s->num_computed;
      for (int64_t l = 0; l < c_.num_layers; ++l) WriteKv(*s, l, pos);
      ++s->num_computed;
      out.push_back(OneHot(SimNextToken(s->tokens.back(), pos, c_.vocab_size)));
    }
    Wait(perf_.DecodeStepSeconds(static_cast<int64_t>(batch.size()), context));
    return out;
  }

 private:
  // Waits run back to back against one deadline per call, so the oversleep of one
  // layer's wait is absorbed by the next instead of adding up over 80 layers.
  void StartWaits() { deadline_ = std::chrono::steady_clock::now(); }
  void Wait(double model_seconds) {
    const double wall = model_seconds * o_.time_scale;
    if (wall <= 0) return;
    if (o_.sleep) {
      o_.sleep(wall);
      return;
    }
    deadline_ += std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(wall));
    std::this_thread::sleep_until(deadline_);
  }
  // Deterministic bytes for (token, position, layer): what a real model would have
  // written is a function of the prefix; this is a function of the token and place.
  void WriteKv(Sequence& seq, int64_t layer, int64_t pos) {
    const int64_t bt = o_.block_tokens;
    const size_t per_token = static_cast<size_t>(cache_.geometry().bytes_per_token_per_layer);
    uint8_t* dst = cache_.Layer(seq.blocks[static_cast<size_t>(pos / bt)], layer).data() +
                   static_cast<size_t>(pos % bt) * per_token;
    uint64_t h = Mix((static_cast<uint64_t>(seq.tokens[static_cast<size_t>(pos)]) << 40) ^
                     (static_cast<uint64_t>(pos) << 8) ^ static_cast<uint64_t>(layer));
    for (size_t i = 0; i < per_token; i += 8) {
      std::memcpy(dst + i, &h, std::min<size_t>(8, per_token - i));
      h = Mix(h);
    }
  }
  std::vector<float> OneHot(int32_t token) const {
    std::vector<float> logits(static_cast<size_t>(c_.vocab_size), 0.0f);
    logits[static_cast<size_t>(token)] = 30.0f;  // ~certain even under temperature sampling
    return logits;
  }

  const SimEngineOptions o_;
  const perfmodel::PerfModel perf_;
  const ModelConfig c_;
  KvCache cache_;
  std::chrono::steady_clock::time_point deadline_;  // end of the waits so far in this call
};

}  // namespace

int32_t SimNextToken(int32_t last_token, int64_t position, int64_t vocab_size) {
  const uint64_t h = Mix((static_cast<uint64_t>(static_cast<uint32_t>(last_token)) << 32) ^
                         static_cast<uint64_t>(position));
  return static_cast<int32_t>(h % static_cast<uint64_t>(vocab_size));
}

StatusOr<std::unique_ptr<Engine>> NewSimEngine(const SimEngineOptions& o) {
  KVC_ASSIGN_OR_RETURN(perfmodel::PerfSpec spec, perfmodel::PresetSpec(o.preset));
  KVC_RETURN_IF_ERROR(perfmodel::ValidateSpec(spec));
  const perfmodel::ModelSpec& m = spec.model;
  if (!(o.time_scale >= 0)) return absl::InvalidArgumentError("sim time_scale must be >= 0");
  if (o.kv_bytes_per_token <= 0 || o.kv_bytes_per_token % m.layers != 0) {
    return absl::InvalidArgumentError(
        "sim kv_bytes_per_token (" + std::to_string(o.kv_bytes_per_token) +
        ") must be a positive multiple of the layer count " + std::to_string(m.layers));
  }
  if (o.block_tokens <= 0 || o.num_blocks <= 0 || o.vocab_size <= 0) {
    return absl::InvalidArgumentError(
        "sim block_tokens, num_blocks and vocab_size must be positive");
  }
  ModelConfig c;
  c.model_type = "sim";
  c.name_or_path = spec.preset;
  c.vocab_size = o.vocab_size;
  c.hidden_size = m.hidden;
  c.intermediate_size = m.hidden;  // unused by the simulation
  c.num_layers = m.layers;
  c.num_heads = m.heads;
  c.num_kv_heads = m.kv_heads;
  c.head_dim = m.hidden / m.heads;
  c.max_position_embeddings = o.max_position_embeddings;
  c.eos_token_ids = o.eos_token_ids;
  return std::unique_ptr<Engine>(new SimEngine(o, std::move(spec), std::move(c)));
}

}  // namespace kvc::engine

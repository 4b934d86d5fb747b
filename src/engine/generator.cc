#include "kvc/engine/generator.h"

#include <algorithm>
#include <chrono>

namespace kvc::engine {

RequestStream::RequestStream(const SamplingOptions& options, const tokenizer::Tokenizer* tokenizer,
                             std::vector<int64_t> eos_ids)
    : options_(options), sampler_(options), tokenizer_(tokenizer), eos_ids_(std::move(eos_ids)) {
  if (tokenizer_) detok_ = std::make_unique<tokenizer::IncrementalDetokenizer>(*tokenizer_);
}

int32_t RequestStream::Next(std::span<const float> logits) {
  const int32_t id = sampler_.Sample(logits);
  ids_.push_back(id);
  const bool stop_id =
      std::count(options_.stop_token_ids.begin(), options_.stop_token_ids.end(), id) > 0 ||
      (!options_.ignore_eos && std::count(eos_ids_.begin(), eos_ids_.end(), id) > 0);
  if (stop_id) {
    finish_reason_ = "stop";
    if (detok_) text_ += detok_->Flush();
    return id;
  }
  if (detok_) {
    text_ += detok_->Add(id);
    for (const auto& s : options_.stop_strings) {
      const size_t at = s.empty() ? std::string::npos : text_.find(s);
      if (at != std::string::npos) {
        text_.resize(at);
        finish_reason_ = "stop";
        return id;
      }
    }
  }
  if (static_cast<int64_t>(ids_.size()) >= options_.max_tokens) {
    finish_reason_ = "length";
    if (detok_) text_ += detok_->Flush();
  }
  return id;
}

namespace {
double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

StatusOr<std::vector<GenerateResult>> GenerateBatch(
    Engine& engine, const tokenizer::Tokenizer* tokenizer,
    const std::vector<std::vector<int32_t>>& prompts, const SamplingOptions& options,
    int64_t prefill_chunk) {
  KVC_RETURN_IF_ERROR(ValidateSamplingOptions(options));
  std::vector<Sequence> seqs(prompts.size());
  std::vector<std::unique_ptr<RequestStream>> streams;
  std::vector<GenerateResult> results(prompts.size());
  auto release_all = [&] {
    for (auto& s : seqs) engine.Release(s);
  };
  for (size_t i = 0; i < prompts.size(); ++i) {
    streams.push_back(
        std::make_unique<RequestStream>(options, tokenizer, engine.config().eos_token_ids));
    const auto t0 = std::chrono::steady_clock::now();
    auto logits = engine.Prefill(seqs[i], prompts[i], 0, prefill_chunk);
    if (!logits.ok()) {
      release_all();
      return logits.status();
    }
    results[i].prefill_seconds = SecondsSince(t0);
    results[i].prompt_tokens = static_cast<int64_t>(prompts[i].size());
    seqs[i].tokens.push_back(streams[i]->Next(*logits));
  }
  const auto t0 = std::chrono::steady_clock::now();
  while (true) {
    std::vector<Sequence*> batch;
    std::vector<size_t> index;
    for (size_t i = 0; i < seqs.size(); ++i) {
      if (!streams[i]->finished()) {
        batch.push_back(&seqs[i]);
        index.push_back(i);
      }
    }
    if (batch.empty()) break;
    auto logits = engine.DecodeStep(batch);
    if (!logits.ok()) {
      release_all();
      return logits.status();
    }
    for (size_t j = 0; j < batch.size(); ++j) {
      batch[j]->tokens.push_back(streams[index[j]]->Next((*logits)[j]));
    }
  }
  const double decode_seconds = SecondsSince(t0);
  for (size_t i = 0; i < seqs.size(); ++i) {
    results[i].token_ids = streams[i]->token_ids();
    results[i].text = streams[i]->text();
    results[i].finish_reason = streams[i]->finish_reason();
    results[i].decode_seconds = decode_seconds;
  }
  release_all();
  return results;
}

StatusOr<GenerateResult> Generate(Engine& engine, const tokenizer::Tokenizer* tokenizer,
                                  const std::vector<int32_t>& prompt,
                                  const SamplingOptions& options, int64_t prefill_chunk) {
  KVC_ASSIGN_OR_RETURN(auto results,
                       GenerateBatch(engine, tokenizer, {prompt}, options, prefill_chunk));
  return std::move(results[0]);
}

}  // namespace kvc::engine

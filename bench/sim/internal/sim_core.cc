#include "bench/sim/internal/sim_core.h"

#include <algorithm>
#include <chrono>

namespace kvc::sim::internal {
namespace {

conductor::CostModel FittedCost(const perfmodel::PerfModel& perf) {
  // The scheduler sees a least-squares fit of the backend, as the live conductor sees a
  // fit of measured prefills; the backend itself runs the exact analytic model.
  auto fit = conductor::PrefillTimeModel::Fit(conductor::SamplePerfModel(perf, 128'000));
  return conductor::CostModel(*fit, conductor::CostOptionsFor(perf));
}

}  // namespace

SimCore::SimCore(const std::vector<trace::TraceRequest>& trace, const SimOptions& options,
                 perfmodel::PerfModel perf, conductor::PolicyOptions policy)
    : trace_(trace),
      options_(options),
      perf_(std::move(perf)),
      scheduler_(policy, FittedCost(perf_), clock_) {
  size_t n = trace.size();
  if (options.max_requests > 0) n = std::min<size_t>(n, options.max_requests);
  results_.resize(n);
  live_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    RequestResult& r = results_[i];
    r.index = trace[i].index;
    r.arrival_s = trace[i].timestamp_ms / 1000.0 / options.rate_scale;
    r.input_tokens = trace[i].input_length;
    r.output_tokens = trace[i].output_length;
  }
}

void SimCore::Push(double time, int kind, int node, int64_t request) {
  events_.push(Event{std::max(time, now_), next_seq_++, kind, node, request});
}

bool SimCore::Pop(Event& event) {
  if (events_.empty()) return false;
  event = events_.top();
  events_.pop();
  if (event.time > now_) {
    clock_.Advance(std::chrono::duration_cast<Clock::Duration>(
        std::chrono::duration<double>(event.time - now_)));
    now_ = event.time;
  }
  ++event_count_;
  return true;
}

int64_t SimCore::UsablePrefix(int64_t i, int64_t matched_blocks) const {
  return std::min(trace::PrefixTokens(trace_[i], matched_blocks), trace_[i].input_length - 1);
}

void SimCore::Reject(int64_t i) {
  results_[i].rejected = true;
  live_[i] = LiveRequest();
}

void SimCore::FirstToken(int64_t i) {
  RequestResult& r = results_[i];
  r.ttft_s = now_ - r.arrival_s;
  r.generated_tokens = 1;
  live_[i].last_token_s = now_;
  live_[i].context = r.input_tokens;
  if (r.output_tokens == 1) Finish(i);
}

bool SimCore::CheckFitsOrReject(int64_t i, int64_t kv_capacity_tokens) {
  if (trace_[i].input_length + trace_[i].output_length <= kv_capacity_tokens) return true;
  Reject(i);
  return false;
}

void SimCore::Admit(DecodeBatch& batch, int64_t i) {
  batch.members.push_back(i);
  batch.context_tokens += live_[i].context;
  live_[i].gaps.reserve(results_[i].output_tokens - 1);
}

void SimCore::DecodeStepDone(DecodeBatch& batch) {
  size_t kept = 0;
  for (int64_t i : batch.members) {
    LiveRequest& l = live_[i];
    RequestResult& r = results_[i];
    l.gaps.push_back(static_cast<float>(now_ - l.last_token_s));
    l.last_token_s = now_;
    ++l.context;
    ++batch.context_tokens;
    if (++r.generated_tokens < r.output_tokens) {
      batch.members[kept++] = i;
      continue;
    }
    batch.context_tokens -= l.context;
    batch.reserved_tokens -= r.input_tokens + r.output_tokens;
    Finish(i);
  }
  batch.members.resize(kept);
}

void SimCore::Finish(int64_t i) {
  RequestResult& r = results_[i];
  r.finish_s = now_;
  r.tbt_s = TbtFromGaps(std::move(live_[i].gaps));
  live_[i] = LiveRequest();
}

SimResult SimCore::TakeResult() {
  SimResult out;
  out.requests = std::move(results_);
  out.summary.events = event_count_;
  out.summary.makespan_s = now_;
  out.summary.prefill_gpu_seconds = prefill_compute_s_ * perf_.spec().node.gpus;
  return out;
}

}  // namespace kvc::sim::internal

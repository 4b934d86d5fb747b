// The scheduler's cost model: predicted prefill time as a function of (input length,
// prefix length) fitted by least squares from samples, predicted decode step time,
// queue time and KV transfer time. Pure values: thread-compatible, no I/O.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "kvc/common/status.h"
#include "kvc/perfmodel/perf_model.h"

namespace kvc::conductor {

// One measured (or modelled) prefill: `seconds` to compute `input_tokens` tokens of
// which the first `prefix_tokens` were cached.
struct PrefillSample {
  int64_t input_tokens = 0;
  int64_t prefix_tokens = 0;
  double seconds = 0;
};

// Prefill seconds as the quadratic polynomial
//   c0 + c1*n + c2*p + c3*n^2 + c4*n*p + c5*p^2      (n, p in units of 1000 tokens)
// which holds the analytic model l*(a*(n^2-p^2)*d + b*(n-p)*d^2) exactly and leaves room
// for a fixed overhead and measured non-idealities (the paper fits a polynomial too).
class PrefillTimeModel {
 public:
  static constexpr int kTerms = 6;
  using Coefficients = std::array<double, kTerms>;

  // Least-squares fit. InvalidArgument when a sample is malformed (negative, prefix >
  // input, non-finite seconds); FailedPrecondition when the samples do not pin down all
  // six coefficients (too few, or all on one line: vary both n and p).
  [[nodiscard]] static StatusOr<PrefillTimeModel> Fit(std::span<const PrefillSample> samples);

  explicit PrefillTimeModel(Coefficients coefficients) : c_(coefficients) {}

  // Predicted seconds, never negative; prefix is clamped to [0, input].
  double Seconds(int64_t input_tokens, int64_t prefix_tokens) const;
  const Coefficients& coefficients() const { return c_; }

 private:
  Coefficients c_;
};

// Samples of the analytic model on a grid of n up to `max_input_tokens` and p in
// {0, n/4, n/2, 3n/4}: what the simulator fits; the live conductor fits measured ones.
std::vector<PrefillSample> SamplePerfModel(const perfmodel::PerfModel& model,
                                           int64_t max_input_tokens);

struct CostModelOptions {
  double kv_bytes_per_token = 327680;        // KV bytes of one token (LLaMA3-70B bf16: 320 KB)
  double transfer_bytes_per_s = 100e9;       // node-to-node KV bandwidth (800 Gbps NIC)
  double decode_base_seconds = 0.0108;       // decode step time of an empty context (weights)
  double decode_seconds_per_token = 2.5e-8;  // extra step time per token of batch KV
};

// Options matching a performance model: its KV size, NIC and decode step.
CostModelOptions CostOptionsFor(const perfmodel::PerfModel& model);

class CostModel {
 public:
  CostModel(PrefillTimeModel prefill, CostModelOptions options)
      : prefill_(std::move(prefill)), options_(options) {}

  double PrefillSeconds(int64_t input_tokens, int64_t prefix_tokens) const {
    return prefill_.Seconds(input_tokens, prefix_tokens);
  }
  // Seconds to move the KV of `tokens` tokens between nodes.
  double TransferSeconds(int64_t tokens) const;
  // Seconds before a newly queued prefill starts: the rest of the running one plus
  // the predicted time of every (input, prefix) pair queued ahead of it.
  double QueueSeconds(double running_remaining_s, std::span<const PrefillSample> queued) const;
  // Predicted decode step with `batch_size` requests holding `context_tokens` in total.
  double DecodeStepSeconds(int64_t batch_size, int64_t context_tokens) const;

  const CostModelOptions& options() const { return options_; }

 private:
  PrefillTimeModel prefill_;
  CostModelOptions options_;
};

}  // namespace kvc::conductor

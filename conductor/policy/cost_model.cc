#include "kvc/conductor/cost_model.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace kvc::conductor {
namespace {

constexpr double kUnit = 1000.0;  // features in thousands of tokens keep the system well scaled

PrefillTimeModel::Coefficients Features(int64_t input_tokens, int64_t prefix_tokens) {
  const double n = input_tokens / kUnit;
  const double p = prefix_tokens / kUnit;
  return {1.0, n, p, n * n, n * p, p * p};
}

using Matrix =
    std::array<std::array<double, PrefillTimeModel::kTerms + 1>, PrefillTimeModel::kTerms>;

// Solves the augmented normal equations in place by Gaussian elimination with partial
// pivoting. Returns false when the system is (numerically) singular.
bool Solve(Matrix& m, PrefillTimeModel::Coefficients& out) {
  constexpr int k = PrefillTimeModel::kTerms;
  double scale = 0;
  for (int i = 0; i < k; ++i) scale = std::max(scale, std::abs(m[i][i]));
  for (int col = 0; col < k; ++col) {
    int pivot = col;
    for (int r = col + 1; r < k; ++r) {
      if (std::abs(m[r][col]) > std::abs(m[pivot][col])) pivot = r;
    }
    if (std::abs(m[pivot][col]) <= 1e-12 * scale) return false;
    std::swap(m[col], m[pivot]);
    for (int r = 0; r < k; ++r) {
      if (r == col) continue;
      const double f = m[r][col] / m[col][col];
      for (int c = col; c <= k; ++c) m[r][c] -= f * m[col][c];
    }
  }
  for (int i = 0; i < k; ++i) out[i] = m[i][k] / m[i][i];
  return true;
}

Status CheckSample(const PrefillSample& s, size_t index) {
  if (s.input_tokens < 0 || s.prefix_tokens < 0 || s.prefix_tokens > s.input_tokens ||
      !std::isfinite(s.seconds) || s.seconds < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "prefill sample ", index, " (input ", s.input_tokens, ", prefix ", s.prefix_tokens,
        ", seconds ", s.seconds, ") needs 0 <= prefix <= input and finite seconds >= 0"));
  }
  return Status();
}

}  // namespace

StatusOr<PrefillTimeModel> PrefillTimeModel::Fit(std::span<const PrefillSample> samples) {
  Matrix m{};
  for (size_t i = 0; i < samples.size(); ++i) {
    KVC_RETURN_IF_ERROR(CheckSample(samples[i], i));
    const Coefficients x = Features(samples[i].input_tokens, samples[i].prefix_tokens);
    for (int r = 0; r < kTerms; ++r) {
      for (int c = 0; c < kTerms; ++c) m[r][c] += x[r] * x[c];
      m[r][kTerms] += x[r] * samples[i].seconds;
    }
  }
  Coefficients c{};
  if (samples.size() < kTerms || !Solve(m, c)) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot fit prefill time from ", samples.size(),
                     " samples: need at least 6 with varied input and prefix lengths"));
  }
  return PrefillTimeModel(c);
}

double PrefillTimeModel::Seconds(int64_t input_tokens, int64_t prefix_tokens) const {
  const int64_t n = std::max<int64_t>(input_tokens, 0);
  const Coefficients x = Features(n, std::clamp<int64_t>(prefix_tokens, 0, n));
  double s = 0;
  for (int i = 0; i < kTerms; ++i) s += c_[i] * x[i];
  return std::max(s, 0.0);
}

std::vector<PrefillSample> SamplePerfModel(const perfmodel::PerfModel& model,
                                           int64_t max_input_tokens) {
  std::vector<PrefillSample> samples;
  const int64_t step = std::max<int64_t>(max_input_tokens / 16, 1);
  for (int64_t n = step; n <= max_input_tokens; n += step) {
    for (int64_t quarter = 0; quarter < 4; ++quarter) {
      const int64_t p = n * quarter / 4;
      samples.push_back({n, p, model.PrefillSeconds(n, p)});
    }
  }
  return samples;
}

CostModelOptions CostOptionsFor(const perfmodel::PerfModel& model) {
  CostModelOptions o;
  o.kv_bytes_per_token = model.KvBytesPerToken();
  o.transfer_bytes_per_s = model.spec().node.nic_bytes_per_s;
  o.decode_base_seconds = model.DecodeStepSeconds(1, 0);
  o.decode_seconds_per_token =
      (model.DecodeStepSeconds(1, 1'000'000) - o.decode_base_seconds) / 1e6;
  return o;
}

double CostModel::TransferSeconds(int64_t tokens) const {
  if (tokens <= 0) return 0;
  return tokens * options_.kv_bytes_per_token / options_.transfer_bytes_per_s;
}

double CostModel::QueueSeconds(double running_remaining_s,
                               std::span<const PrefillSample> queued) const {
  double total = std::max(running_remaining_s, 0.0);
  for (const PrefillSample& q : queued) total += PrefillSeconds(q.input_tokens, q.prefix_tokens);
  return total;
}

double CostModel::DecodeStepSeconds(int64_t batch_size, int64_t context_tokens) const {
  if (batch_size <= 0) return 0;
  return options_.decode_base_seconds +
         options_.decode_seconds_per_token * std::max<int64_t>(context_tokens, 0);
}

}  // namespace kvc::conductor

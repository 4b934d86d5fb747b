#include "kvc/conductor/cost_model.h"

#include <gtest/gtest.h>

namespace kvc::conductor {
namespace {

// Fitting samples of the analytic model reproduces it at points off the sample grid.
TEST(CostModelTest, FitRecoversAnalyticModel) {
  perfmodel::PerfModel perf(*perfmodel::PresetSpec("llama3-70b-a800x8"));
  auto fit = PrefillTimeModel::Fit(SamplePerfModel(perf, 64000));
  ASSERT_TRUE(fit.ok()) << fit.status();
  for (auto [n, p] :
       {std::pair<int64_t, int64_t>{15325, 0}, {15325, 9000}, {777, 512}, {50000, 49000}}) {
    EXPECT_NEAR(fit->Seconds(n, p), perf.PrefillSeconds(n, p), 1e-6 * perf.PrefillSeconds(n, 0))
        << n << "," << p;
  }
}

// A hand-made polynomial (0.5 s overhead + 1 s per 1000 new tokens + quadratic) is recovered.
TEST(CostModelTest, FitRecoversHandPolynomial) {
  auto truth = [](int64_t n, int64_t p) {
    const double k = n / 1000.0, q = p / 1000.0;
    return 0.5 + k - q + 0.01 * (k * k - q * q);
  };
  std::vector<PrefillSample> samples;
  for (int64_t n : {1000, 2000, 4000, 8000}) {
    for (int64_t p : {int64_t{0}, n / 2, n}) samples.push_back({n, p, truth(n, p)});
  }
  auto fit = PrefillTimeModel::Fit(samples);
  ASSERT_TRUE(fit.ok()) << fit.status();
  const auto& c = fit->coefficients();
  EXPECT_NEAR(c[0], 0.5, 1e-9);
  EXPECT_NEAR(c[1], 1.0, 1e-9);
  EXPECT_NEAR(c[2], -1.0, 1e-9);
  EXPECT_NEAR(c[3], 0.01, 1e-9);
  EXPECT_NEAR(c[4], 0.0, 1e-9);
  EXPECT_NEAR(c[5], -0.01, 1e-9);
  EXPECT_NEAR(fit->Seconds(3000, 1000), truth(3000, 1000), 1e-9);
}

// Too few samples, samples that never vary the prefix, and malformed samples fail clearly.
TEST(CostModelTest, FitRejectsUnderdeterminedOrBadSamples) {
  std::vector<PrefillSample> few = {{1000, 0, 1.0}, {2000, 0, 2.0}};
  EXPECT_EQ(PrefillTimeModel::Fit(few).status().code(), absl::StatusCode::kFailedPrecondition);
  std::vector<PrefillSample> no_prefix;
  for (int64_t n = 1000; n <= 10000; n += 1000) no_prefix.push_back({n, 0, n / 1000.0});
  EXPECT_EQ(PrefillTimeModel::Fit(no_prefix).status().code(),
            absl::StatusCode::kFailedPrecondition);
  std::vector<PrefillSample> bad = {{1000, 2000, 1.0}};
  auto s = PrefillTimeModel::Fit(bad).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(s.message()).find("sample 0"), std::string::npos);
}

// Transfer, queue and decode times follow bytes/bandwidth, sums and the linear step model.
TEST(CostModelTest, TransferQueueAndDecodeTimes) {
  CostModelOptions o;
  o.kv_bytes_per_token = 327680;
  o.transfer_bytes_per_s = 100e9;
  o.decode_base_seconds = 0.01;
  o.decode_seconds_per_token = 1e-6;
  CostModel cost(PrefillTimeModel({0, 1, -1, 0, 0, 0}), o);  // 1 s per 1000 new tokens
  EXPECT_NEAR(cost.TransferSeconds(1000), 3.2768e-3, 1e-12);
  EXPECT_EQ(cost.TransferSeconds(0), 0);
  std::vector<PrefillSample> queued = {{3000, 1000, 0}, {1000, 0, 0}};
  EXPECT_NEAR(cost.QueueSeconds(0.5, queued), 0.5 + 2.0 + 1.0, 1e-12);
  EXPECT_NEAR(cost.DecodeStepSeconds(4, 20000), 0.03, 1e-12);
  EXPECT_EQ(cost.DecodeStepSeconds(0, 0), 0);
  EXPECT_EQ(cost.PrefillSeconds(1000, 5000), 0);  // prefix clamped to input
}

// Options derived from the A800 preset carry its KV size, NIC and decode step.
TEST(CostModelTest, OptionsFromPerfModel) {
  perfmodel::PerfModel perf(*perfmodel::PresetSpec("llama3-70b-a800x8"));
  CostModelOptions o = CostOptionsFor(perf);
  EXPECT_DOUBLE_EQ(o.kv_bytes_per_token, 327680);
  EXPECT_DOUBLE_EQ(o.transfer_bytes_per_s, 100e9);
  CostModel cost(PrefillTimeModel({}), o);
  EXPECT_NEAR(cost.DecodeStepSeconds(8, 200000), perf.DecodeStepSeconds(8, 200000), 1e-9);
}

}  // namespace
}  // namespace kvc::conductor

#include "kvc/common/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <thread>

namespace kvc {
namespace {

// A small, independent reader of the Prometheus text format: sample line →
// value, keyed by the series as written ("name{a=\"b\"}"); # TYPE lines → type.
struct Parsed {
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;
  std::map<std::string, std::string> helps;
};

Parsed ParseExposition(const std::string& text) {
  Parsed p;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream ls(line.substr(7));
      std::string name, type;
      ls >> name >> type;
      p.types[name] = type;
      continue;
    }
    if (line.rfind("# HELP ", 0) == 0) {
      const std::string rest = line.substr(7);
      const size_t sp = rest.find(' ');
      p.helps[rest.substr(0, sp)] = rest.substr(sp + 1);
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    // The value follows the last space outside braces.
    const size_t close = line.rfind('}');
    const size_t sp = line.find(' ', close == std::string::npos ? 0 : close);
    const std::string series = line.substr(0, sp);
    const std::string value = line.substr(sp + 1);
    p.samples[series] = value == "+Inf" ? INFINITY : std::stod(value);
  }
  return p;
}

// Counters, gauges and labelled series come back with the values written.
TEST(MetricsTest, CounterAndGaugeRoundTrip) {
  MetricsRegistry r;
  r.GetCounter("kvc_test_requests_total", "Requests.", {{"role", "prefill"}}).Increment(3);
  r.GetCounter("kvc_test_requests_total", "Requests.", {{"role", "decode"}}).Increment();
  r.GetGauge("kvc_test_queue_size", "Queue.").Set(-2.5);
  const Parsed p = ParseExposition(r.RenderPrometheus());
  EXPECT_EQ(p.types.at("kvc_test_requests_total"), "counter");
  EXPECT_EQ(p.types.at("kvc_test_queue_size"), "gauge");
  EXPECT_EQ(p.helps.at("kvc_test_requests_total"), "Requests.");
  EXPECT_DOUBLE_EQ(p.samples.at("kvc_test_requests_total{role=\"prefill\"}"), 3);
  EXPECT_DOUBLE_EQ(p.samples.at("kvc_test_requests_total{role=\"decode\"}"), 1);
  EXPECT_DOUBLE_EQ(p.samples.at("kvc_test_queue_size"), -2.5);
}

// Histogram buckets are cumulative, end in +Inf, and _count/_sum match what was observed.
TEST(MetricsTest, HistogramRoundTrip) {
  MetricsRegistry r;
  auto& h = r.GetHistogram("kvc_test_ttft_seconds", "TTFT.", {0.1, 1, 10});
  for (double v : {0.05, 0.1, 0.5, 2.0, 20.0}) h.Observe(v);
  const Parsed p = ParseExposition(r.RenderPrometheus());
  EXPECT_EQ(p.types.at("kvc_test_ttft_seconds"), "histogram");
  EXPECT_EQ(p.samples.at("kvc_test_ttft_seconds_bucket{le=\"0.10000000000000001\"}"), 2);
  EXPECT_EQ(p.samples.at("kvc_test_ttft_seconds_bucket{le=\"1\"}"), 3);
  EXPECT_EQ(p.samples.at("kvc_test_ttft_seconds_bucket{le=\"10\"}"), 4);
  EXPECT_EQ(p.samples.at("kvc_test_ttft_seconds_bucket{le=\"+Inf\"}"), 5);
  EXPECT_EQ(p.samples.at("kvc_test_ttft_seconds_count"), 5);
  EXPECT_NEAR(p.samples.at("kvc_test_ttft_seconds_sum"), 22.65, 1e-9);
}

// Label values with quotes, backslashes and newlines are escaped, not broken.
TEST(MetricsTest, LabelValuesAreEscaped) {
  MetricsRegistry r;
  r.GetGauge("kvc_test_g", "G.", {{"path", "a\"b\\c\nd"}}).Set(1);
  const std::string text = r.RenderPrometheus();
  EXPECT_NE(text.find("kvc_test_g{path=\"a\\\"b\\\\c\\nd\"} 1"), std::string::npos) << text;
}

// The same name and labels return the same object.
TEST(MetricsTest, GetReturnsSameMetric) {
  MetricsRegistry r;
  Counter& a = r.GetCounter("kvc_test_c", "C.", {{"x", "1"}});
  Counter& b = r.GetCounter("kvc_test_c", "C.", {{"x", "1"}});
  EXPECT_EQ(&a, &b);
  a.Increment(2);
  EXPECT_DOUBLE_EQ(b.Value(), 2);
}

// Concurrent increments are not lost.
TEST(MetricsTest, ConcurrentIncrements) {
  MetricsRegistry r;
  Counter& c = r.GetCounter("kvc_test_concurrent_total", "C.");
  auto& h = r.GetHistogram("kvc_test_concurrent_seconds", "H.", DefaultLatencyBuckets());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.Increment();
        h.Observe(0.01);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_DOUBLE_EQ(c.Value(), 40000);
  EXPECT_EQ(h.Read().count, 40000u);
}

// Families render sorted by name, each with HELP before TYPE before samples.
TEST(MetricsTest, FamiliesSortedWithHeaders) {
  MetricsRegistry r;
  r.GetGauge("kvc_b", "B.").Set(1);
  r.GetGauge("kvc_a", "A.").Set(1);
  const std::string text = r.RenderPrometheus();
  EXPECT_LT(text.find("# HELP kvc_a"), text.find("# HELP kvc_b"));
  EXPECT_LT(text.find("# HELP kvc_a"), text.find("# TYPE kvc_a"));
  EXPECT_LT(text.find("# TYPE kvc_a"), text.find("\nkvc_a 1"));
}

// Constant labels (role, node id) go on every series; a series' own label wins.
TEST(MetricsTest, ConstantLabelsOnEverySeries) {
  MetricsRegistry r;
  r.GetCounter("kvc_c_total", "C.").Increment(2);
  r.GetCounter("kvc_c_total", "C.", {{"role", "own"}}).Increment(3);
  r.GetHistogram("kvc_h_seconds", "H.", {1.0}).Observe(0.5);
  const Parsed p = ParseExposition(r.RenderPrometheus({{"role", "prefill"}, {"node_id", "p-0"}}));
  EXPECT_EQ(p.samples.at("kvc_c_total{node_id=\"p-0\",role=\"prefill\"}"), 2);
  EXPECT_EQ(p.samples.at("kvc_c_total{node_id=\"p-0\",role=\"own\"}"), 3);
  EXPECT_EQ(p.samples.at("kvc_h_seconds_count{node_id=\"p-0\",role=\"prefill\"}"), 1);
  EXPECT_EQ(p.samples.at("kvc_h_seconds_bucket{node_id=\"p-0\",role=\"prefill\",le=\"1\"}"), 1);
}

// Registering one name with two types is a programming error.
TEST(MetricsDeathTest, TypeConflictAborts) {
  MetricsRegistry r;
  r.GetCounter("kvc_test_x", "X.");
  EXPECT_DEATH(r.GetGauge("kvc_test_x", "X."), "two types");
}

// Malformed names abort rather than emit unparsable text.
TEST(MetricsDeathTest, BadNameAborts) {
  MetricsRegistry r;
  EXPECT_DEATH(r.GetCounter("9bad name", "X."), "bad metric name");
}

TEST(MetricsTest, ExponentialBuckets) {
  EXPECT_EQ(ExponentialBuckets(1, 2, 4), (std::vector<double>{1, 2, 4, 8}));
}

}  // namespace
}  // namespace kvc

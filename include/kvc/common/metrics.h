// Metrics: counters, gauges and histograms in a registry that renders the
// Prometheus text exposition format (version 0.0.4).
//
// Names follow kvc_<component>_<what>_<unit>, e.g. kvc_conductor_ttft_seconds.
// Thread-safe: metric objects are updated lock-free; the registry locks only to
// create metrics and to render. Metric references stay valid for the registry's
// lifetime.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace kvc {

// Label name → value. Rendered sorted by name.
using Labels = std::map<std::string, std::string>;

class Counter {
 public:
  // REQUIRES: v >= 0 (counters only go up).
  void Increment(double v = 1.0);
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Gauge {
 public:
  void Set(double v) { value_.store(v, std::memory_order_relaxed); }
  void Add(double v) { value_.fetch_add(v, std::memory_order_relaxed); }
  double Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Histogram {
 public:
  // `upper_bounds` must be strictly increasing; +Inf is implied.
  explicit Histogram(std::vector<double> upper_bounds);
  void Observe(double v);

  struct Snapshot {
    std::vector<double> upper_bounds;
    std::vector<uint64_t> cumulative_counts;  // one per bound, then +Inf
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Read() const;

 private:
  const std::vector<double> upper_bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> bucket_counts_;  // upper_bounds_.size() + 1
  std::atomic<double> sum_{0.0};
  std::atomic<uint64_t> count_{0};
};

// Latency buckets from 1 ms to ~100 s, for *_seconds histograms.
std::vector<double> DefaultLatencyBuckets();
// Exponential buckets: start, start*factor, ... (count bounds). REQUIRES start > 0, factor > 1.
std::vector<double> ExponentialBuckets(double start, double factor, int count);

class MetricsRegistry {
 public:
  MetricsRegistry() = default;
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  // Returns the metric with this name and labels, creating it on first use.
  // Asking for an existing name with another type, or with a malformed name or
  // label name, is a programming error and aborts.
  Counter& GetCounter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& GetGauge(const std::string& name, const std::string& help, const Labels& labels = {});
  Histogram& GetHistogram(const std::string& name, const std::string& help,
                          const std::vector<double>& upper_bounds, const Labels& labels = {});

  // Every metric in Prometheus text format, families sorted by name. Every
  // series also carries `constant_labels` (e.g. role, node_id), unless it has a
  // label of that name itself.
  std::string RenderPrometheus(const Labels& constant_labels = {}) const;

  // The process-wide registry used by servers.
  static MetricsRegistry& Default();

 private:
  enum class Type { kCounter, kGauge, kHistogram };
  struct Family {
    Type type;
    std::string help;
    std::map<Labels, std::unique_ptr<Counter>> counters;
    std::map<Labels, std::unique_ptr<Gauge>> gauges;
    std::map<Labels, std::unique_ptr<Histogram>> histograms;
  };
  Family& FamilyFor(const std::string& name, const std::string& help, Type type,
                    const Labels& labels);

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;  // guarded by mu_
};

}  // namespace kvc

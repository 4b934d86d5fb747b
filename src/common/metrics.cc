#include "kvc/common/metrics.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kvc {
namespace {

bool IsValidName(const std::string& name, bool allow_colon) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (allow_colon && c == ':');
    const bool digit = c >= '0' && c <= '9';
    if (!(alpha || (i > 0 && digit))) return false;
  }
  return true;
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "kvc metrics: %s\n", what.c_str());
  std::abort();
}

std::string EscapeLabelValue(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string EscapeHelp(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return absl::StrFormat("%.17g", v);
}

std::string FormatLabels(const Labels& labels, const std::string& extra_name = "",
                         const std::string& extra_value = "") {
  if (labels.empty() && extra_name.empty()) return "";
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    absl::StrAppend(&out, first ? "" : ",", k, "=\"", EscapeLabelValue(v), "\"");
    first = false;
  }
  if (!extra_name.empty()) {
    absl::StrAppend(&out, first ? "" : ",", extra_name, "=\"", extra_value, "\"");
  }
  return out + "}";
}

void RenderHistogram(const std::string& name, const Labels& labels, const Histogram& h,
                     std::string* out) {
  const Histogram::Snapshot s = h.Read();
  for (size_t i = 0; i < s.upper_bounds.size(); ++i) {
    absl::StrAppend(out, name, "_bucket",
                    FormatLabels(labels, "le", FormatValue(s.upper_bounds[i])), " ",
                    s.cumulative_counts[i], "\n");
  }
  absl::StrAppend(out, name, "_bucket", FormatLabels(labels, "le", "+Inf"), " ",
                  s.cumulative_counts.back(), "\n");
  absl::StrAppend(out, name, "_sum", FormatLabels(labels), " ", FormatValue(s.sum), "\n");
  absl::StrAppend(out, name, "_count", FormatLabels(labels), " ", s.count, "\n");
}

}  // namespace

void Counter::Increment(double v) {
  if (v < 0) Die("counter decremented");
  value_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Histogram(std::vector<double> upper_bounds)
    : upper_bounds_(std::move(upper_bounds)),
      bucket_counts_(new std::atomic<uint64_t>[upper_bounds_.size() + 1]) {
  for (size_t i = 1; i < upper_bounds_.size(); ++i) {
    if (!(upper_bounds_[i] > upper_bounds_[i - 1])) Die("histogram bounds not increasing");
  }
  for (size_t i = 0; i <= upper_bounds_.size(); ++i) bucket_counts_[i].store(0);
}

void Histogram::Observe(double v) {
  size_t i = 0;
  while (i < upper_bounds_.size() && v > upper_bounds_[i]) ++i;
  bucket_counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::Read() const {
  Snapshot s;
  s.upper_bounds = upper_bounds_;
  uint64_t running = 0;
  for (size_t i = 0; i <= upper_bounds_.size(); ++i) {
    running += bucket_counts_[i].load(std::memory_order_relaxed);
    s.cumulative_counts.push_back(running);
  }
  s.sum = sum_.load(std::memory_order_relaxed);
  // count is the +Inf bucket so the snapshot is self-consistent under concurrent Observe.
  s.count = running;
  return s;
}

std::vector<double> ExponentialBuckets(double start, double factor, int count) {
  std::vector<double> out;
  double v = start;
  for (int i = 0; i < count; ++i, v *= factor) out.push_back(v);
  return out;
}

std::vector<double> DefaultLatencyBuckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100};
}

MetricsRegistry::Family& MetricsRegistry::FamilyFor(const std::string& name,
                                                    const std::string& help, Type type,
                                                    const Labels& labels) {
  if (!IsValidName(name, /*allow_colon=*/true)) Die("bad metric name '" + name + "'");
  for (const auto& [k, v] : labels) {
    if (!IsValidName(k, false) || k == "le") Die("bad label name '" + k + "' on " + name);
  }
  auto [it, inserted] = families_.try_emplace(name);
  if (inserted) {
    it->second.type = type;
    it->second.help = help;
  } else if (it->second.type != type) {
    Die("metric '" + name + "' registered with two types");
  }
  return it->second;
}

Counter& MetricsRegistry::GetCounter(const std::string& name, const std::string& help,
                                     const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& slot = FamilyFor(name, help, Type::kCounter, labels).counters[labels];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& MetricsRegistry::GetGauge(const std::string& name, const std::string& help,
                                 const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& slot = FamilyFor(name, help, Type::kGauge, labels).gauges[labels];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& MetricsRegistry::GetHistogram(const std::string& name, const std::string& help,
                                         const std::vector<double>& upper_bounds,
                                         const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& slot = FamilyFor(name, help, Type::kHistogram, labels).histograms[labels];
  if (!slot) slot = std::make_unique<Histogram>(upper_bounds);
  return *slot;
}

std::string MetricsRegistry::RenderPrometheus(const Labels& constant_labels) const {
  // A series' own label wins over a constant label of the same name.
  auto with_constants = [&constant_labels](const Labels& own) {
    Labels merged = constant_labels;
    for (const auto& [k, v] : own) merged[k] = v;
    return merged;
  };
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, family] : families_) {
    static constexpr const char* kTypeNames[] = {"counter", "gauge", "histogram"};
    absl::StrAppend(&out, "# HELP ", name, " ", EscapeHelp(family.help), "\n");
    absl::StrAppend(&out, "# TYPE ", name, " ", kTypeNames[static_cast<int>(family.type)], "\n");
    for (const auto& [labels, c] : family.counters) {
      absl::StrAppend(&out, name, FormatLabels(with_constants(labels)), " ",
                      FormatValue(c->Value()), "\n");
    }
    for (const auto& [labels, g] : family.gauges) {
      absl::StrAppend(&out, name, FormatLabels(with_constants(labels)), " ",
                      FormatValue(g->Value()), "\n");
    }
    for (const auto& [labels, h] : family.histograms) {
      RenderHistogram(name, with_constants(labels), *h, &out);
    }
  }
  return out;
}

MetricsRegistry& MetricsRegistry::Default() {
  static MetricsRegistry* registry = new MetricsRegistry();  // never destroyed: used at exit
  return *registry;
}

}  // namespace kvc

#include "tests/support/prometheus.h"

#include <sstream>

namespace kvc::testing {
namespace {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

// One sample line: name{k="v",...} value. Label values here never hold '"' or ','.
std::optional<Sample> ParseLine(const std::string& line) {
  if (line.empty() || line[0] == '#') return std::nullopt;
  Sample s;
  size_t pos = line.find_first_of("{ ");
  if (pos == std::string::npos) return std::nullopt;
  s.name = line.substr(0, pos);
  if (line[pos] == '{') {
    const size_t close = line.find('}', pos);
    if (close == std::string::npos) return std::nullopt;
    std::string body = line.substr(pos + 1, close - pos - 1);
    size_t at = 0;
    while (at < body.size()) {
      const size_t eq = body.find("=\"", at);
      const size_t end = body.find('"', eq + 2);
      if (eq == std::string::npos || end == std::string::npos) return std::nullopt;
      s.labels[body.substr(at, eq - at)] = body.substr(eq + 2, end - eq - 2);
      at = end + 2;  // past '",'
    }
    pos = close + 1;
  }
  try {
    s.value = std::stod(line.substr(pos + 1));
  } catch (...) {
    return std::nullopt;
  }
  return s;
}

std::optional<Sample> Find(const std::string& text, const std::string& name,
                           const std::map<std::string, std::string>& labels) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    std::optional<Sample> s = ParseLine(line);
    if (!s || s->name != name) continue;
    bool match = true;
    for (const auto& [k, v] : labels) {
      auto it = s->labels.find(k);
      if (it == s->labels.end() || it->second != v) match = false;
    }
    if (match) return s;
  }
  return std::nullopt;
}

}  // namespace

std::optional<double> PromSample(const std::string& text, const std::string& name,
                                 const std::map<std::string, std::string>& labels) {
  std::optional<Sample> s = Find(text, name, labels);
  if (!s) return std::nullopt;
  return s->value;
}

std::map<std::string, std::string> PromLabels(const std::string& text, const std::string& name,
                                              const std::map<std::string, std::string>& labels) {
  std::optional<Sample> s = Find(text, name, labels);
  return s ? s->labels : std::map<std::string, std::string>{};
}

}  // namespace kvc::testing

// Test support: reading samples out of Prometheus text exposition (what every
// role's /metrics serves). Independent of the code that writes it.
#pragma once

#include <map>
#include <optional>
#include <string>

namespace kvc::testing {

// The value of the first sample of metric `name` (exact name, e.g.
// "kvc_store_puts_total" or "kvc_x_seconds_count") whose labels include every
// entry of `labels`; nullopt when there is none.
std::optional<double> PromSample(const std::string& text, const std::string& name,
                                 const std::map<std::string, std::string>& labels = {});
// The labels of that sample (empty map when none matches).
std::map<std::string, std::string> PromLabels(
    const std::string& text, const std::string& name,
    const std::map<std::string, std::string>& labels = {});

}  // namespace kvc::testing

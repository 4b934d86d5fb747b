// JSON output that cannot throw on bytes that came from outside: nlohmann's
// dump() throws type_error.316 on invalid UTF-8 in any string, which one
// request with a 0xFF byte in its path turned into a crash. Every place that
// serialises JSON uses DumpJson; invalid UTF-8 becomes U+FFFD.
// Thread-safety: free function, no shared state.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace kvc {

// `j` serialised (compact when indent < 0, else pretty-printed with `indent`
// spaces), with every invalid UTF-8 sequence in its strings replaced by U+FFFD.
// Never throws on string contents.
[[nodiscard]] inline std::string DumpJson(const nlohmann::json& j, int indent = -1) {
  return j.dump(indent, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
}

}  // namespace kvc

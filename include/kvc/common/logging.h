// Logging: one named spdlog logger per component; lines carry the request id of
// the request being handled on the current thread (set with ScopedRequestId).
//
//   auto log = kvc::Logger("conductor");
//   kvc::ScopedRequestId rid(request.header().request_id());
//   log->info("placed on {}", node);   // ... [conductor] [req-1a2b...] placed on ...
#pragma once

#include <spdlog/spdlog.h>

#include <memory>
#include <string>
#include <string_view>

#include "absl/strings/string_view.h"
#include "kvc/common/status.h"

namespace kvc {

// The logger named `component`, created on first use with the process-wide
// pattern and level. Thread-safe; the returned logger lives for the process.
std::shared_ptr<spdlog::logger> Logger(std::string_view component);

// Sets the level of every logger, present and future: trace, debug, info, warn,
// error, critical, off. Unknown names are rejected.
[[nodiscard]] Status SetLogLevel(std::string_view level);

// Sets the request id that log lines from this thread carry, restoring the
// previous one when it goes out of scope.
class ScopedRequestId {
 public:
  explicit ScopedRequestId(std::string request_id);
  ~ScopedRequestId();
  ScopedRequestId(const ScopedRequestId&) = delete;
  ScopedRequestId& operator=(const ScopedRequestId&) = delete;

 private:
  std::string previous_;
};

// The request id of the current thread ("" when none).
const std::string& CurrentRequestId();

}  // namespace kvc

// Debian's abseil has its own string_view; let fmt/spdlog format it (and Status)
// directly, e.g. log->error("{}", status.message()).
template <>
struct fmt::formatter<absl::string_view> : fmt::formatter<std::string_view> {
  template <typename Ctx>
  auto format(absl::string_view v, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format(std::string_view(v.data(), v.size()), ctx);
  }
};
template <>
struct fmt::formatter<absl::Status> : fmt::formatter<std::string_view> {
  template <typename Ctx>
  auto format(const absl::Status& s, Ctx& ctx) const {
    return fmt::formatter<std::string_view>::format(s.ToString(), ctx);
  }
};

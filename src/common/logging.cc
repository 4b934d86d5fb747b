#include "kvc/common/logging.h"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <mutex>

namespace kvc {
namespace {

thread_local std::string tls_request_id;

// Formats the `%q` pattern flag as " [req-...]" when a request id is set.
class RequestIdFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    if (tls_request_id.empty()) return;
    dest.push_back(' ');
    dest.push_back('[');
    dest.append(tls_request_id.data(), tls_request_id.data() + tls_request_id.size());
    dest.push_back(']');
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<RequestIdFlag>();
  }
};

std::mutex& Mu() {
  static std::mutex mu;
  return mu;
}

std::unique_ptr<spdlog::formatter> MakeFormatter() {
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<RequestIdFlag>('q').set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%L%$ [%n]%q %v");
  return formatter;
}

}  // namespace

std::shared_ptr<spdlog::logger> Logger(std::string_view component) {
  std::lock_guard lock(Mu());
  const std::string name(component);
  if (auto existing = spdlog::get(name)) return existing;
  // Logs go to stderr so stdout stays free for machine-readable output.
  auto logger = spdlog::stderr_color_mt(name);
  logger->set_formatter(MakeFormatter());
  logger->set_level(spdlog::get_level());
  return logger;
}

Status SetLogLevel(std::string_view level) {
  const auto parsed = spdlog::level::from_str(std::string(level));
  if (parsed == spdlog::level::off && level != "off") {
    return absl::InvalidArgumentError(
        "log_level: unknown level '" + std::string(level) +
        "' (expected trace, debug, info, warn, error, critical, off)");
  }
  std::lock_guard lock(Mu());
  spdlog::set_level(parsed);  // applies to every registered logger
  return Status();
}

ScopedRequestId::ScopedRequestId(std::string request_id) : previous_(std::move(tls_request_id)) {
  tls_request_id = std::move(request_id);
}

ScopedRequestId::~ScopedRequestId() { tls_request_id = std::move(previous_); }

const std::string& CurrentRequestId() { return tls_request_id; }

}  // namespace kvc

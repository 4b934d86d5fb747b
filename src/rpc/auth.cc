#include "kvc/rpc/auth.h"

#include <atomic>

#include "kvc/common/log_rate_limiter.h"
#include "kvc/common/logging.h"
#include "kvc/common/metrics.h"
#include "kvc/common/utf8.h"

namespace kvc {

bool BearerMatches(const std::string& header_value, const std::string& expected) {
  static constexpr std::string_view kPrefix = "Bearer ";
  if (header_value.size() < kPrefix.size() ||
      header_value.compare(0, kPrefix.size(), kPrefix) != 0) {
    return false;
  }
  return ConstantTimeEquals(header_value.substr(kPrefix.size()), expected);
}

Status CheckBearerToken(const grpc::ServerContext& context, const std::string& expected) {
  if (expected.empty()) return Status();
  const auto& md = context.client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) {
    return absl::UnauthenticatedError("missing 'authorization: Bearer <token>' metadata");
  }
  if (!BearerMatches(std::string(it->second.data(), it->second.size()), expected)) {
    return absl::UnauthenticatedError("invalid token");
  }
  return Status();
}

namespace {
std::atomic<uint64_t> refused_calls{0};
}  // namespace

void LogRefusedCall(std::string_view component, std::string_view peer, std::string_view method,
                    std::string_view why) {
  refused_calls.fetch_add(1, std::memory_order_relaxed);
  static Counter& refused_metric = MetricsRegistry::Default().GetCounter(
      "kvc_rpc_refused_calls_total", "gRPC calls refused for a missing or wrong token");
  refused_metric.Increment();
  static LogRateLimiter limiter(Clock::Real(), std::chrono::seconds(10));
  uint64_t suppressed = 0;
  if (!limiter.Allow(&suppressed)) return;
  // The method name comes from the wire: keep the log line valid UTF-8.
  Logger(component)->warn("refused {} from {}: {}{}", ToValidUtf8(method), ToValidUtf8(peer), why,
                          suppressed == 0 ? std::string()
                                          : " (" + std::to_string(suppressed) +
                                                " more refused calls not logged in the last 10 s)");
}

uint64_t RefusedCalls() { return refused_calls.load(std::memory_order_relaxed); }

void AddBearerToken(grpc::ClientContext* context, const std::string& token) {
  if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
}

}  // namespace kvc

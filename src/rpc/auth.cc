#include "kvc/rpc/auth.h"

namespace kvc {

bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? a[i] : 0;
    const unsigned char y = i < b.size() ? b[i] : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

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

void AddBearerToken(grpc::ClientContext* context, const std::string& token) {
  if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
}

}  // namespace kvc

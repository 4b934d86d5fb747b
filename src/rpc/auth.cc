#include "kvc/rpc/auth.h"

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

void AddBearerToken(grpc::ClientContext* context, const std::string& token) {
  if (!token.empty()) context->AddMetadata("authorization", "Bearer " + token);
}

}  // namespace kvc

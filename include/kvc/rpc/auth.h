// Shared-secret authentication for kvc's RPCs: the caller sends
// "authorization: Bearer <token>" metadata; the server compares in constant time.
// Admin RPCs use the admin token; node-to-node RPCs use the cluster token.
#pragma once

#include <grpcpp/grpcpp.h>

#include <string>

#include "kvc/common/secret.h"  // ConstantTimeEquals
#include "kvc/common/status.h"

namespace kvc {

// OK when `expected` is empty (auth disabled) or the metadata carries it;
// UNAUTHENTICATED otherwise, with a message that does not echo the secret.
[[nodiscard]] Status CheckBearerToken(const grpc::ServerContext& context,
                                      const std::string& expected);
// The same check for an HTTP Authorization header value.
[[nodiscard]] bool BearerMatches(const std::string& header_value, const std::string& expected);
// Adds the token to an outgoing call (nothing when empty).
void AddBearerToken(grpc::ClientContext* context, const std::string& token);

}  // namespace kvc

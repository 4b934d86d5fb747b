// Shared-secret authentication for kvc's RPCs: the caller sends
// "authorization: Bearer <token>" metadata; the server compares in constant time.
// Admin RPCs use the admin token; node-to-node RPCs use the cluster token.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <string>
#include <string_view>

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

// Records a call refused for a missing or wrong token: counts it (RefusedCalls()
// and kvc_rpc_refused_calls_total in MetricsRegistry::Default())
// and logs a warning on logger `component` naming the peer address, the method
// and `why` (never the token). Rate-limited process-wide to one line per 10 s;
// the next line says how many refusals were left out, so a flood of bad calls
// cannot flood the log. Thread-safe.
void LogRefusedCall(std::string_view component, std::string_view peer, std::string_view method,
                    std::string_view why);
// Calls refused for a missing or wrong token in this process so far.
uint64_t RefusedCalls();

}  // namespace kvc

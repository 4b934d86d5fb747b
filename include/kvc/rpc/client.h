// Client-side helpers: channels and the standard health check.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>

#include "kvc/common/status.h"

namespace kvc {

// A channel to "host:port": plaintext, or TLS with the process's certificates
// once SetProcessTls has set them (kvc/rpc/tls.h). Authentication rides in
// metadata either way.
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& target);

// Calls grpc.health.v1.Health/Check for `service` ("" = the whole server).
// Returns the serving status name ("SERVING", "NOT_SERVING", ...) or the RPC
// error (UNAVAILABLE when nothing listens, DEADLINE_EXCEEDED after `timeout`).
StatusOr<std::string> CheckHealth(const std::string& target, std::chrono::milliseconds timeout,
                                  const std::string& service = "");

}  // namespace kvc

// Cluster-token authentication for a node's gRPC services (workers, master, store nodes): every
// method of a wrapped service first checks "authorization: Bearer <cluster token>" (constant time,
// kvc/rpc/auth.h) and answers UNAUTHENTICATED without running the method when it is missing or
// wrong. The standard health service is never wrapped.
//
// gRPC C++ server interceptors cannot refuse a call before the handler runs, so
// this replaces each synchronous method handler of the service with a checking
// one that delegates to the original. Call before the service is registered with
// a server; not thread-safe.
#pragma once

#include <grpcpp/grpcpp.h>

#include <string>

#include "kvc/common/status.h"

namespace kvc {

// Wraps every method of `service` (borrowed) to require `token`. An empty token
// leaves the service open. FAILED_PRECONDITION when the service has a method that
// is not synchronous (async/callback handlers cannot be wrapped); nothing changes then.
[[nodiscard]] Status RequireClusterToken(grpc::Service* service, const std::string& token);

}  // namespace kvc

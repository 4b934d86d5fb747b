// A minimal blocking HTTP/1.1 POST client for talking to etcd's JSON gateway on a
// trusted network (no TLS, no redirects, no keep-alive). Every call has a deadline.
// Thread-safe (no shared state).
#pragma once

#include <chrono>
#include <string>

#include "kvc/common/status.h"

namespace kvc::store {

// POSTs `body` (JSON) to `base_url` + `path`, e.g. ("http://127.0.0.1:2379",
// "/v3/kv/range"). Returns the response body of a 2xx answer (chunked bodies are
// decoded); UNAVAILABLE when the server cannot be reached, DEADLINE_EXCEEDED after
// `timeout`, INTERNAL "HTTP <code>: <body>" for other statuses, INVALID_ARGUMENT
// for a URL that is not http://host:port.
StatusOr<std::string> HttpPost(const std::string& base_url, const std::string& path,
                               const std::string& body, std::chrono::milliseconds timeout);

}  // namespace kvc::store

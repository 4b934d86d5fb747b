// A blocking HTTP/1.1 client for one OpenAI-style request, streamed or not, with
// deadlines on connect, on every read (idle) and on the whole request. Server-Sent
// Events are delivered one by one, as they arrive, so the caller can time tokens.
// Thread-safe (no shared state); one call per request.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "kvc/common/status.h"

namespace kvc::replay {

struct HttpTarget {
  std::string host = "127.0.0.1";  // IPv4 address or "localhost"
  int port = 8000;
  std::string path_prefix;  // prepended to request paths (e.g. "" or "/proxy")
};

// Parses "http://host:port[/prefix]". InvalidArgument for anything else (https
// is not supported).
[[nodiscard]] StatusOr<HttpTarget> ParseUrl(const std::string& url);

struct PostOptions {
  std::vector<std::string> headers;  // "Name: value"
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds idle_timeout{120000};    // max silence between bytes
  std::chrono::milliseconds total_timeout{1800000};  // whole request
};

struct PostResult {
  int status = 0;           // HTTP status; 0 when no response arrived
  std::string body;         // the whole body for non-event-stream responses
  std::string retry_after;  // Retry-After header, if any
};

// POSTs `body` as JSON to `path`. For a text/event-stream response, calls
// `on_event(data)` for every "data:" event in arrival order (the body stays empty).
// Errors: UNAVAILABLE (cannot connect), DEADLINE_EXCEEDED (a timeout),
// DATA_LOSS (malformed HTTP framing).
[[nodiscard]] StatusOr<PostResult> PostJson(
    const HttpTarget& target, const std::string& path, const std::string& body,
    const PostOptions& options, const std::function<void(const std::string&)>& on_event);

}  // namespace kvc::replay

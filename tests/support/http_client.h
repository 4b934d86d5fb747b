// Test support: one blocking HTTP/1.1 request to 127.0.0.1 (kvc::http::Fetch),
// with `timeout` on connect and on every read; failures become status 0.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace kvc::testing {

struct HttpResponse {
  int status = 0;       // 0 when the request failed (no connection, timeout)
  std::string headers;  // raw header block
  std::string body;     // de-chunked
};

HttpResponse HttpRequest(int port, const std::string& method, const std::string& path,
                         const std::string& body = "",
                         const std::vector<std::string>& extra_headers = {},
                         std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));

}  // namespace kvc::testing

// Test support: a minimal blocking HTTP/1.1 client for loopback tests, with a
// deadline on connect and every read. Sends "Connection: close" and reads to EOF.
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

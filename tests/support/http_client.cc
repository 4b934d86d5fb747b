#include "tests/support/http_client.h"

#include "kvc/http/client.h"

namespace kvc::testing {

HttpResponse HttpRequest(int port, const std::string& method, const std::string& path,
                         const std::string& body, const std::vector<std::string>& extra_headers,
                         std::chrono::milliseconds timeout) {
  http::RequestOptions o;
  o.headers = extra_headers;
  o.connect_timeout = timeout;
  o.idle_timeout = timeout;
  o.total_timeout = std::chrono::minutes(10);
  http::Response r;
  // A body cut or timed out mid-way keeps the status and what arrived.
  (void)http::FetchInto(http::Loopback(port), method, path, body, o, nullptr, &r);
  HttpResponse out;
  out.status = r.status;  // 0 when no response arrived
  out.headers = std::move(r.headers);
  out.body = std::move(r.body);
  return out;
}

}  // namespace kvc::testing

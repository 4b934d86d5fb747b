// Fuzz target: HTTP request handling of kvc's HttpServer (src/http/server.cc:
// Boost.Beast's parser under kvc's limits, the conversion to http::Request,
// routing, keep-alive, chunked bodies, event streams). There is no in-process
// parse function to call: the request path is the server's connection code, so
// the target runs the real server on loopback (one I/O thread, small limits) and
// sends the input as the bytes of one connection, half-closed, then reads until
// the server closes. Checked: no crash or sanitizer report, the server answers
// or closes within the deadline (no hang), never with a 5xx (bad input is a 4xx),
// and every answer starts with an HTTP status line.
#include <memory>
#include <string>

#include "kvc/http/server.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

void Echo(const kvc::http::Request& r, std::shared_ptr<kvc::http::ResponseWriter> w) {
  // Touch every converted field (ASan checks them); never echo raw bytes, so a
  // status line seen in the output is one the server wrote.
  size_t n = r.method.size() + r.path.size() + r.query.size() + r.remote_address.size();
  for (const auto& [k, v] : r.headers) n += k.size() + v.size();
  w->Respond(200, "text/plain", "ok " + std::to_string(n) + " " + std::to_string(r.body.size()),
             {{"X-Header-Count", std::to_string(r.headers.size())}});
}

void Stream(const kvc::http::Request& r, std::shared_ptr<kvc::http::ResponseWriter> w) {
  w->StartEventStream();
  for (int i = 0; i < 3; ++i) w->SendEvent("{\"i\":" + std::to_string(i) + "}");
  w->End();
}

uint16_t Port() {
  static const uint16_t port = [] {
    kvc::http::ServerOptions options;
    options.port = 0;
    options.io_threads = 1;
    options.max_body_bytes = 4096;
    options.max_header_bytes = 2048;
    options.max_target_bytes = 512;
    options.read_timeout_ms = 2000;
    options.write_timeout_ms = 2000;
    auto* server = new kvc::http::HttpServer(options);  // lives for the whole run
    server->Route("POST", "/v1/chat/completions", Echo);
    server->Route("GET", "/health", Echo);
    server->Route("PUT", "/x", Echo);
    server->Route("GET", "/stream", Stream);
    server->Route("POST", "/stream", Stream);
    if (!server->Start().ok()) kvc::fuzz::Fail("cannot start the HTTP server");
    return server->port();
  }();
  return port;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const int fd = kvc::fuzz::ConnectLoopback(Port());
  KVC_FUZZ_CHECK(fd >= 0, "cannot connect to the HTTP server");
  std::string output;
  const bool closed =
      kvc::fuzz::Exchange(fd, std::string_view(reinterpret_cast<const char*>(data), size), &output);
  close(fd);
  KVC_FUZZ_CHECK(closed, "the server neither answered nor closed: " + output.substr(0, 200));
  if (!output.empty()) {
    KVC_FUZZ_CHECK(output.rfind("HTTP/1.", 0) == 0, "not a status line: " + output.substr(0, 200));
  }
  for (size_t at = output.find("HTTP/1."); at != std::string::npos;
       at = output.find("HTTP/1.", at + 1)) {
    if (at + 9 < output.size()) {
      KVC_FUZZ_CHECK(output[at + 9] != '5', "5xx answer: " + output.substr(at, 200));
    }
  }
  return 0;
}

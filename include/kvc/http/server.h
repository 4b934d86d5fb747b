// A small asynchronous HTTP/1.1 server for kvc's front door (the OpenAI-compatible
// API, /health, /metrics), plain or HTTPS (OpenSSL; ServerOptions::tls_cert_file). Built on
// Boost.Beast: a fixed pool of I/O threads serves any number of connections, so thousands of open
// streaming responses cost memory, not threads.
//
// A handler runs on an I/O thread and must not block: it answers at once with
// Respond(), or keeps the ResponseWriter and answers later from any thread,
// including a Server-Sent-Events stream (StartEventStream / SendEvent / End).
//
// Malformed requests (bad request line, bad header line, invalid or conflicting
// Content-Length, Transfer-Encoding with Content-Length) get 400, an oversized
// header block 431, an oversized target 414, an incomplete request at the read
// deadline 408; each then closes the connection. Past max_connections open
// connections, a new one is answered 503 with Retry-After and closed. An HTTP/1.0 client's event
// stream is close-delimited (no chunked encoding).
//
// Thread-safety: HttpServer's methods are thread-safe. ResponseWriter's methods
// are thread-safe and may be called after the client has gone (they then do
// nothing and return false).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kvc/common/status.h"

namespace kvc::http {

struct Request {
  std::string method;                          // "GET", "POST", ...
  std::string path;                            // target without the query string
  std::string query;                           // after '?', may be empty
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string remote_address;

  // The header's value, or "" when absent. `name` must be lower-case.
  std::string Header(const std::string& name) const;
};

using Headers = std::vector<std::pair<std::string, std::string>>;

class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  // Sends a complete response. Returns false when a response was already
  // started or the client is gone. Called at most once per request.
  virtual bool Respond(int status, const std::string& content_type, std::string body,
                       const Headers& extra_headers = {}) = 0;
  // Starts a `text/event-stream` response (chunked for HTTP/1.1 clients,
  // close-delimited for HTTP/1.0 ones). Returns false when the
  // client is gone or a response was already started.
  virtual bool StartEventStream(const Headers& extra_headers = {}) = 0;
  // Queues one SSE event: "data: <data>\n\n". Returns false once the client is gone.
  virtual bool SendEvent(const std::string& data) = 0;
  // Finishes the stream; the connection closes after pending events are sent.
  virtual void End() = 0;
  // True once the client disconnected or the connection failed.
  virtual bool Closed() const = 0;
  // `callback` runs exactly once, on an I/O thread, when the connection closes
  // before the response is complete (client disconnect — noticed while a
  // Respond() is still pending too, not only during a stream —, write failure,
  // server shutdown); at once if it already has. Use it to cancel the request's
  // work. It does not run once the response was fully written.
  virtual void OnDisconnect(std::function<void()> callback) = 0;
};

using Handler = std::function<void(const Request&, std::shared_ptr<ResponseWriter>)>;

struct ServerOptions {
  std::string address = "127.0.0.1";   // interface to bind
  uint16_t port = 8000;                // 0 = ephemeral
  int io_threads = 2;                  // threads running the event loop
  size_t max_body_bytes = 8 << 20;     // larger request bodies get 413
  size_t max_header_bytes = 64 << 10;  // request line + headers; larger get 431
  size_t max_target_bytes = 8 << 10;   // request target (path + query); longer get 414
  // Deadline for reading one whole request (header and body) and for an idle
  // keep-alive connection. A request that is incomplete when it fires gets 408;
  // an idle connection is closed silently.
  uint32_t read_timeout_ms = 30'000;
  uint32_t write_timeout_ms = 60'000;  // a client that stops reading is dropped
  // Open connections at most. One more is answered 503 (Retry-After:
  // retry_after_s, code "too_many_connections") without reading its request and
  // closed, so a flood of idle connections costs bounded memory and file
  // descriptors and a client learns why.
  size_t max_connections = 10'000;
  uint32_t retry_after_s = 1;
  // HTTPS: PEM certificate chain and private key ("" = plain HTTP). Both or
  // neither. With them every connection must complete a TLS (1.2 or later)
  // handshake within read_timeout_ms, else it is closed.
  std::string tls_cert_file;
  std::string tls_key_file;
};

class HttpServer {
 public:
  explicit HttpServer(ServerOptions options);
  ~HttpServer();  // calls Shutdown()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Routes an exact method + path. Register before Start().
  void Route(const std::string& method, const std::string& path, Handler handler);
  // Binds and starts serving. Fails with a message naming the address when it
  // cannot bind, or naming the file when the HTTPS certificate or key is unusable.
  [[nodiscard]] Status Start();
  // The bound port (useful with port 0). REQUIRES: Start() succeeded.
  uint16_t port() const;
  // Stops accepting, closes every connection (their OnDisconnect callbacks run),
  // joins the I/O threads. Idempotent.
  void Shutdown();
  // Open connections right now (for metrics and tests).
  size_t OpenConnections() const;
  // Connections refused so far because max_connections were open.
  uint64_t RefusedConnections() const;
  // HTTPS connections closed because their TLS handshake failed or was late.
  uint64_t TlsHandshakeFailures() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

// The JSON error body of the OpenAI API: {"error":{"message","type","code"}}.
std::string OpenAiErrorBody(const std::string& message, const std::string& type,
                            const std::string& code);

}  // namespace kvc::http

// A blocking HTTP/1.1 client for kvc's small clients (the etcd JSON gateway,
// health probes, the replay tool, tests): one request per connection
// ("Connection: close"), deadlines on connect, on every read (idle) and on the
// whole request; chunked bodies are decoded; Server-Sent Events are delivered one
// by one as they arrive. https:// URLs use TLS (1.2 or later, OpenSSL) with the
// server's certificate verified against the process's client CA (SetClientTls;
// the system roots until it is called) and the dialled host name or IP address.
// No redirects, no keep-alive.
//
//   KVC_ASSIGN_OR_RETURN(http::Url url, http::ParseUrl("http://127.0.0.1:2379"));
//   KVC_ASSIGN_OR_RETURN(http::Response r, http::Fetch(url, "POST", "/v3/kv/range", body));
//
// Thread-safe (no shared state).
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "kvc/common/status.h"

namespace kvc::http {

struct Url {
  std::string host = "127.0.0.1";  // name or address (IPv4 or IPv6, without brackets)
  int port = 80;
  std::string path_prefix;  // prepended to every request path ("" or e.g. "/proxy")
  bool tls = false;         // https
};

// Parses "http://host[:port][/prefix]" or "https://..." (default port 80 / 443; a
// trailing '/' is dropped; "[::1]:80" for IPv6). INVALID_ARGUMENT naming the URL
// for anything else.
[[nodiscard]] StatusOr<Url> ParseUrl(const std::string& url);

// http://127.0.0.1:<port>, for local clients that know only a port.
Url Loopback(int port);

// The TLS settings of every https request this process makes from now on.
struct ClientTlsOptions {
  std::string ca_file;    // PEM CA bundle servers must chain to ("" = system roots)
  std::string cert_file;  // PEM client certificate (mutual TLS; "" = none)
  std::string key_file;   // its private key
};
// INVALID_ARGUMENT naming the field whose file cannot be used; the settings are
// then unchanged. Thread-safe; requests already running keep their settings.
[[nodiscard]] Status SetClientTls(const ClientTlsOptions& options);

struct RequestOptions {
  std::vector<std::string> headers;               // extra "Name: value" lines
  std::string content_type = "application/json";  // sent when there is a body or for POST
  std::chrono::milliseconds connect_timeout{5000};
  std::chrono::milliseconds idle_timeout{30000};   // longest silence between bytes
  std::chrono::milliseconds total_timeout{60000};  // the whole request
};

struct Response {
  int status = 0;
  std::string headers;        // raw header block: status line and header lines, CRLF-separated
  std::string body;           // decoded body; empty for an event stream read with on_event
  bool closed_early = false;  // on_event returned false and the connection was closed

  // The first header `name` (case-insensitive), whitespace-trimmed; "" when absent.
  std::string Header(std::string_view name) const;
};

// Called with each "data:" payload of a text/event-stream response, in arrival
// order; returning false closes the connection at once (a client disconnect).
using EventCallback = std::function<bool(const std::string& data)>;

// Sends `method` url.path_prefix + `path` with `body` and reads the whole answer.
// With `on_event`, a text/event-stream response is delivered through it instead
// of Response::body. Any HTTP status is a success here (check Response::status).
// Errors: UNAVAILABLE (cannot resolve or connect, reset, closed before a
// response), DEADLINE_EXCEEDED (connect, idle or total timeout), DATA_LOSS
// (malformed status line, header over 1 MiB, bad chunk framing, stream cut
// before its last chunk).
[[nodiscard]] StatusOr<Response> Fetch(const Url& url, const std::string& method,
                                       const std::string& path, const std::string& body = "",
                                       const RequestOptions& options = {},
                                       const EventCallback& on_event = nullptr);

// Fetch that keeps what arrived: on an error after the status line (a stream cut
// or timed out mid-body), `*response` still holds the status, the headers and
// the body read so far. `response` must not be null.
[[nodiscard]] Status FetchInto(const Url& url, const std::string& method, const std::string& path,
                               const std::string& body, const RequestOptions& options,
                               const EventCallback& on_event, Response* response);

}  // namespace kvc::http

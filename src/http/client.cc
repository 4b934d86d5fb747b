#include "kvc/http/client.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "src/http/internal/client_tls.h"

namespace kvc::http {
namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr size_t kMaxHeaderBytes = 1 << 20;

int MillisUntil(SteadyClock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

// Non-blocking connect to one resolved address, within `deadline`.
Status ConnectOne(const addrinfo* a, SteadyClock::time_point deadline, const std::string& name,
                  Fd* out) {
  Fd s;
  s.fd = socket(a->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s.fd < 0) return absl::UnavailableError(absl::StrCat("socket(): ", std::strerror(errno)));
  if (connect(s.fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
    return absl::UnavailableError(absl::StrCat("connect to ", name, ": ", std::strerror(errno)));
  }
  pollfd p{s.fd, POLLOUT, 0};
  if (poll(&p, 1, MillisUntil(deadline)) != 1) {
    return absl::DeadlineExceededError(absl::StrCat("connect to ", name, " timed out"));
  }
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    return absl::UnavailableError(absl::StrCat("connect to ", name, ": ", std::strerror(err)));
  }
  std::swap(out->fd, s.fd);
  return Status();
}

// Tries every address of `url.host` in turn until one accepts.
Status Connect(const Url& url, std::chrono::milliseconds timeout, Fd* out) {
  const std::string name = absl::StrCat(url.host, ":", url.port);
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(url.host.c_str(), std::to_string(url.port).c_str(), &hints, &res) != 0 ||
      res == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot resolve host '", url.host, "'"));
  }
  const auto deadline = SteadyClock::now() + timeout;
  Status last;
  for (const addrinfo* a = res; a != nullptr; a = a->ai_next) {
    last = ConnectOne(a, deadline, name, out);
    if (last.ok() || absl::IsDeadlineExceeded(last)) break;
  }
  freeaddrinfo(res);
  return last;
}

Status SendAll(int fd, const std::string& data, SteadyClock::time_point deadline) {
  size_t sent = 0;
  while (sent < data.size()) {
    pollfd p{fd, POLLOUT, 0};
    if (poll(&p, 1, MillisUntil(deadline)) != 1) {
      return absl::DeadlineExceededError("sending the request timed out");
    }
    const ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR) {
      return absl::UnavailableError("connection closed while sending the request");
    }
    if (n > 0) sent += static_cast<size_t>(n);
  }
  return Status();
}

// Reads what is there within the idle and total deadlines; 0 bytes = EOF.
StatusOr<size_t> ReadSome(int fd, char* buf, size_t cap, SteadyClock::time_point total_deadline,
                          std::chrono::milliseconds idle) {
  while (true) {
    const int left = MillisUntil(total_deadline);
    if (left == 0) return absl::DeadlineExceededError("request deadline exceeded");
    pollfd p{fd, POLLIN, 0};
    const int rc = poll(&p, 1, std::min<int>(left, static_cast<int>(idle.count())));
    if (rc == 0) {
      if (MillisUntil(total_deadline) == 0) {
        return absl::DeadlineExceededError("request deadline exceeded");
      }
      return absl::DeadlineExceededError("server sent nothing within the idle timeout");
    }
    if (rc < 0 && errno == EINTR) continue;
    if (rc < 0) return absl::UnavailableError(absl::StrCat("poll: ", std::strerror(errno)));
    const ssize_t n = recv(fd, buf, cap, 0);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n < 0)
      return absl::UnavailableError(absl::StrCat("connection reset: ", std::strerror(errno)));
    return static_cast<size_t>(n);
  }
}

// The connection a request runs on: plain TCP, or TLS over it.
class Connection {
 public:
  Status Open(const Url& url, std::chrono::milliseconds timeout) {
    const auto deadline = SteadyClock::now() + timeout;
    KVC_RETURN_IF_ERROR(Connect(url, timeout, &sock_));
    if (!url.tls) return Status();
    KVC_ASSIGN_OR_RETURN(tls_, internal::TlsConnection::Handshake(sock_.fd, url.host, deadline));
    return Status();
  }
  Status Send(const std::string& data, SteadyClock::time_point deadline) {
    return tls_ ? tls_->SendAll(data, deadline) : SendAll(sock_.fd, data, deadline);
  }
  StatusOr<size_t> Read(char* buf, size_t cap, SteadyClock::time_point total_deadline,
                        std::chrono::milliseconds idle) {
    return tls_ ? tls_->ReadSome(buf, cap, total_deadline, idle)
                : ReadSome(sock_.fd, buf, cap, total_deadline, idle);
  }

 private:
  Fd sock_;                                       // declared first: outlives tls_
  std::unique_ptr<internal::TlsConnection> tls_;  // null for plain http
};

// Incremental decoder: raw bytes → body bytes (chunked, length-delimited or up to
// EOF) → SSE events.
class BodyDecoder {
 public:
  BodyDecoder(bool chunked, int64_t length, const EventCallback* on_event)
      : chunked_(chunked), length_left_(length), on_event_(on_event) {}

  // DATA_LOSS on malformed chunk framing.
  Status Feed(std::string_view bytes) {
    if (!chunked_) {
      if (length_left_ >= 0) {
        bytes = bytes.substr(0, static_cast<size_t>(length_left_));
        length_left_ -= static_cast<int64_t>(bytes.size());
        if (length_left_ == 0) done_ = true;
      }
      Body(bytes);
      return Status();
    }
    raw_.append(bytes);
    while (!done_ && !stopped_) {
      if (chunk_left_ == 0) {
        const size_t eol = raw_.find("\r\n");
        if (eol == std::string::npos) return Status();
        if (eol == 0) {  // the CRLF after a chunk's data
          raw_.erase(0, 2);
          continue;
        }
        uint64_t size = 0;
        const std::string hex = raw_.substr(0, std::min(eol, raw_.find(';')));
        if (!absl::SimpleHexAtoi(hex, &size)) {
          return absl::DataLossError("bad chunk size '" + hex + "'");
        }
        raw_.erase(0, eol + 2);
        if (size == 0) {
          done_ = true;
          break;
        }
        chunk_left_ = size;
      }
      const size_t take = std::min<size_t>(chunk_left_, raw_.size());
      if (take == 0) return Status();
      Body(std::string_view(raw_).substr(0, take));
      raw_.erase(0, take);
      chunk_left_ -= take;
    }
    return Status();
  }
  bool done() const { return done_; }
  bool stopped() const { return stopped_; }
  // Whether the body may still be incomplete at EOF (chunked without its last chunk).
  bool cut() const { return chunked_ && !done_; }
  std::string& body() { return body_; }

 private:
  void Body(std::string_view bytes) {
    if (on_event_ == nullptr) {
      body_.append(bytes);
      return;
    }
    pending_.append(bytes);
    size_t eol;
    while (!stopped_ && (eol = pending_.find('\n')) != std::string::npos) {
      std::string line = pending_.substr(0, eol);
      pending_.erase(0, eol + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.rfind("data:", 0) != 0) continue;  // blank lines, comments, other fields
      std::string data = line.substr(5);
      if (!data.empty() && data[0] == ' ') data.erase(0, 1);
      if (!(*on_event_)(data)) stopped_ = true;
    }
  }

  const bool chunked_;
  int64_t length_left_;  // -1 = up to EOF
  const EventCallback* const on_event_;
  std::string raw_, pending_, body_;
  uint64_t chunk_left_ = 0;
  bool done_ = false, stopped_ = false;
};

std::string RequestText(const Url& url, const std::string& method, const std::string& path,
                        const std::string& body, const RequestOptions& options) {
  std::string req =
      absl::StrCat(method, " ", url.path_prefix, path, " HTTP/1.1\r\nHost: ", url.host, ":",
                   url.port, "\r\nConnection: close\r\n");
  for (const std::string& h : options.headers) absl::StrAppend(&req, h, "\r\n");
  if (!body.empty() || method == "POST" || method == "PUT") {
    absl::StrAppend(&req, "Content-Type: ", options.content_type,
                    "\r\nContent-Length: ", body.size(), "\r\n");
  }
  absl::StrAppend(&req, "\r\n", body);
  return req;
}

}  // namespace

std::string Response::Header(std::string_view name) const {
  const std::string lower = absl::AsciiStrToLower(headers);
  const std::string want = absl::StrCat("\r\n", absl::AsciiStrToLower(std::string(name)), ":");
  const size_t at = lower.find(want);
  if (at == std::string::npos) return "";
  const size_t start = at + want.size();
  const size_t end = headers.find("\r\n", start);
  return std::string(absl::StripAsciiWhitespace(
      absl::string_view(headers).substr(start, end == std::string::npos ? end : end - start)));
}

StatusOr<Url> ParseUrl(const std::string& url) {
  Url u;
  std::string rest;
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    rest = url.substr(8);
    u.tls = true;
  } else {
    return absl::InvalidArgumentError("url: '" + url + "' must start with http:// or https://");
  }
  u.path_prefix.clear();
  const size_t slash = rest.find('/');
  if (slash != std::string::npos) {
    u.path_prefix = rest.substr(slash);
    while (!u.path_prefix.empty() && u.path_prefix.back() == '/') u.path_prefix.pop_back();
    rest = rest.substr(0, slash);
  }
  std::string port;
  if (!rest.empty() && rest[0] == '[') {  // [v6 address]:port
    const size_t close = rest.find(']');
    if (close == std::string::npos)
      return absl::InvalidArgumentError("url: '" + url + "' has a bad host");
    u.host = rest.substr(1, close - 1);
    if (close + 1 < rest.size()) {
      if (rest[close + 1] != ':')
        return absl::InvalidArgumentError("url: '" + url + "' has a bad host");
      port = rest.substr(close + 2);
      if (port.empty()) return absl::InvalidArgumentError("url: '" + url + "' has a bad port");
    }
  } else {
    const size_t colon = rest.rfind(':');
    u.host = colon == std::string::npos ? rest : rest.substr(0, colon);
    if (colon != std::string::npos) {
      port = rest.substr(colon + 1);
      if (port.empty()) return absl::InvalidArgumentError("url: '" + url + "' has a bad port");
    }
  }
  if (u.host.empty()) return absl::InvalidArgumentError("url: '" + url + "' has no host");
  u.port = u.tls ? 443 : 80;
  if (!port.empty() && (!absl::SimpleAtoi(port, &u.port) || u.port <= 0 || u.port > 65535)) {
    return absl::InvalidArgumentError("url: '" + url + "' has a bad port");
  }
  return u;
}

Url Loopback(int port) {
  Url u;
  u.host = "127.0.0.1";
  u.port = port;
  return u;
}

Status FetchInto(const Url& url, const std::string& method, const std::string& path,
                 const std::string& body, const RequestOptions& options,
                 const EventCallback& on_event, Response* r) {
  *r = Response();
  const auto deadline = SteadyClock::now() + options.total_timeout;
  Connection conn;
  KVC_RETURN_IF_ERROR(conn.Open(url, std::min(options.connect_timeout, options.total_timeout)));
  KVC_RETURN_IF_ERROR(conn.Send(RequestText(url, method, path, body, options), deadline));

  std::string head;
  char buf[16384];
  size_t split = std::string::npos;
  while (split == std::string::npos) {
    KVC_ASSIGN_OR_RETURN(size_t n, conn.Read(buf, sizeof buf, deadline, options.idle_timeout));
    if (n == 0) return absl::UnavailableError("connection closed before a response");
    head.append(buf, n);
    split = head.find("\r\n\r\n");
    if (split == std::string::npos && head.size() > kMaxHeaderBytes) {
      return absl::DataLossError("response header over 1 MiB");
    }
  }
  int status = 0;
  if (head.rfind("HTTP/1.", 0) != 0 || split < 12 ||
      !absl::SimpleAtoi(head.substr(9, 3), &status)) {
    return absl::DataLossError("not an HTTP/1.x response");
  }
  r->status = status;
  r->headers = head.substr(0, split);
  const bool chunked = absl::AsciiStrToLower(r->Header("transfer-encoding")) == "chunked";
  int64_t length = -1;
  if (!chunked && !absl::SimpleAtoi(r->Header("content-length"), &length)) length = -1;
  if (method == "HEAD" || status == 204 || status == 304) length = 0;
  const bool events =
      on_event != nullptr && r->Header("content-type").rfind("text/event-stream", 0) == 0;
  BodyDecoder decoder(chunked, length, events ? &on_event : nullptr);
  Status s;
  if (length != 0) s = decoder.Feed(std::string_view(head).substr(split + 4));
  while (s.ok() && length != 0 && !decoder.done() && !decoder.stopped()) {
    StatusOr<size_t> n = conn.Read(buf, sizeof buf, deadline, options.idle_timeout);
    if (!n.ok()) {
      s = n.status();
    } else if (*n == 0) {
      break;  // EOF: the end of a close-delimited body, or the server went away
    } else {
      s = decoder.Feed(std::string_view(buf, *n));
    }
  }
  r->closed_early = decoder.stopped();
  r->body = std::move(decoder.body());
  if (s.ok() && !r->closed_early && decoder.cut()) {
    s = absl::DataLossError("stream ended before its last chunk");
  }
  return s;
}

StatusOr<Response> Fetch(const Url& url, const std::string& method, const std::string& path,
                         const std::string& body, const RequestOptions& options,
                         const EventCallback& on_event) {
  Response r;
  KVC_RETURN_IF_ERROR(FetchInto(url, method, path, body, options, on_event, &r));
  return r;
}

}  // namespace kvc::http

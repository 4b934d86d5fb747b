#include "bench/replay/sse_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace kvc::replay {
namespace {

using Clock = std::chrono::steady_clock;

class Socket {
 public:
  ~Socket() {
    if (fd_ >= 0) close(fd_);
  }
  int fd_ = -1;
};

Status Connect(const HttpTarget& t, std::chrono::milliseconds timeout, Socket* s) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(t.host.c_str(), std::to_string(t.port).c_str(), &hints, &res) != 0 || !res) {
    return absl::UnavailableError("cannot resolve host '" + t.host + "'");
  }
  s->fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int rc = connect(s->fd_, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if (rc != 0 && errno != EINPROGRESS) {
    return absl::UnavailableError(absl::StrCat("connect to ", t.host, ":", t.port, " failed"));
  }
  pollfd p{s->fd_, POLLOUT, 0};
  if (poll(&p, 1, static_cast<int>(timeout.count())) != 1) {
    return absl::DeadlineExceededError(
        absl::StrCat("connect to ", t.host, ":", t.port, " timed out"));
  }
  int err = 0;
  socklen_t len = sizeof(err);
  getsockopt(s->fd_, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    return absl::UnavailableError(
        absl::StrCat("connect to ", t.host, ":", t.port, ": ", strerror(err)));
  }
  return Status();
}

// Reads whatever is available within the deadlines; 0 bytes = EOF.
StatusOr<size_t> ReadSome(int fd, char* buf, size_t cap, Clock::time_point total_deadline,
                          std::chrono::milliseconds idle) {
  const auto now = Clock::now();
  if (now >= total_deadline) return absl::DeadlineExceededError("request deadline exceeded");
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(total_deadline - now);
  pollfd p{fd, POLLIN, 0};
  const int rc = poll(&p, 1, static_cast<int>(std::min(left, idle).count()));
  if (rc == 0) return absl::DeadlineExceededError("server sent nothing within the idle timeout");
  if (rc < 0) return absl::UnavailableError("poll failed");
  const ssize_t n = read(fd, buf, cap);
  if (n < 0) return absl::UnavailableError("connection reset");
  return static_cast<size_t>(n);
}

Status WriteAll(int fd, const std::string& data, Clock::time_point deadline) {
  size_t off = 0;
  while (off < data.size()) {
    pollfd p{fd, POLLOUT, 0};
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0 || poll(&p, 1, static_cast<int>(left.count())) != 1) {
      return absl::DeadlineExceededError("sending the request timed out");
    }
    const ssize_t n = write(fd, data.data() + off, data.size() - off);
    if (n <= 0) return absl::UnavailableError("connection closed while sending");
    off += static_cast<size_t>(n);
  }
  return Status();
}

// Incremental decoder: raw bytes → body bytes (chunked or not) → SSE events.
class BodyDecoder {
 public:
  BodyDecoder(bool chunked, bool events, std::function<void(const std::string&)> on_event)
      : chunked_(chunked), events_(events), on_event_(std::move(on_event)) {}

  // Returns DATA_LOSS on malformed chunk framing; sets done() at the last chunk.
  Status Feed(const std::string& bytes) {
    if (!chunked_) return Body(bytes);
    raw_ += bytes;
    while (!done_) {
      if (chunk_left_ == 0) {
        const size_t eol = raw_.find("\r\n");
        if (eol == std::string::npos) return Status();
        if (eol == 0) {  // CRLF after a chunk's data
          raw_.erase(0, 2);
          continue;
        }
        uint64_t size = 0;
        std::string hex = raw_.substr(0, raw_.find_first_of(";\r"));
        if (!absl::SimpleHexAtoi(hex, &size))
          return absl::DataLossError("bad chunk size '" + hex + "'");
        raw_.erase(0, eol + 2);
        if (size == 0) {
          done_ = true;
          break;
        }
        chunk_left_ = size;
      }
      const size_t take = std::min<size_t>(chunk_left_, raw_.size());
      if (take == 0) return Status();
      KVC_RETURN_IF_ERROR(Body(raw_.substr(0, take)));
      raw_.erase(0, take);
      chunk_left_ -= take;
    }
    return Status();
  }
  bool done() const { return done_; }
  std::string& body() { return body_; }

 private:
  Status Body(const std::string& bytes) {
    if (!events_) {
      body_ += bytes;
      return Status();
    }
    pending_ += bytes;
    size_t end;
    while ((end = pending_.find("\n\n")) != std::string::npos) {
      const std::string event = pending_.substr(0, end);
      pending_.erase(0, end + 2);
      for (size_t pos = 0; pos < event.size();) {
        size_t nl = event.find('\n', pos);
        if (nl == std::string::npos) nl = event.size();
        std::string line = event.substr(pos, nl - pos);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.rfind("data:", 0) == 0) {
          on_event_(std::string(absl::StripLeadingAsciiWhitespace(line.substr(5))));
        }
        pos = nl + 1;
      }
    }
    return Status();
  }

  const bool chunked_, events_;
  std::function<void(const std::string&)> on_event_;
  std::string raw_, pending_, body_;
  uint64_t chunk_left_ = 0;
  bool done_ = false;
};

std::string HeaderValue(const std::string& headers, const std::string& name) {
  const std::string lower = absl::AsciiStrToLower(headers);
  const size_t at = lower.find("\r\n" + name + ":");
  if (at == std::string::npos) return "";
  const size_t start = at + 3 + name.size();
  const size_t end = headers.find("\r\n", start);
  return std::string(absl::StripAsciiWhitespace(headers.substr(start, end - start)));
}

}  // namespace

StatusOr<HttpTarget> ParseUrl(const std::string& url) {
  static constexpr std::string_view kScheme = "http://";
  if (url.rfind(kScheme, 0) != 0) {
    return absl::InvalidArgumentError("url: '" + url + "' must start with http://");
  }
  std::string rest = url.substr(kScheme.size());
  HttpTarget t;
  const size_t slash = rest.find('/');
  if (slash != std::string::npos) {
    t.path_prefix = rest.substr(slash);
    while (!t.path_prefix.empty() && t.path_prefix.back() == '/') t.path_prefix.pop_back();
    rest = rest.substr(0, slash);
  }
  const size_t colon = rest.rfind(':');
  t.host = colon == std::string::npos ? rest : rest.substr(0, colon);
  if (t.host.empty()) return absl::InvalidArgumentError("url: '" + url + "' has no host");
  if (colon != std::string::npos &&
      (!absl::SimpleAtoi(rest.substr(colon + 1), &t.port) || t.port <= 0 || t.port > 65535)) {
    return absl::InvalidArgumentError("url: '" + url + "' has a bad port");
  }
  if (colon == std::string::npos) t.port = 80;
  return t;
}

StatusOr<PostResult> PostJson(const HttpTarget& target, const std::string& path,
                              const std::string& body, const PostOptions& options,
                              const std::function<void(const std::string&)>& on_event) {
  const auto deadline = Clock::now() + options.total_timeout;
  Socket sock;
  KVC_RETURN_IF_ERROR(Connect(target, options.connect_timeout, &sock));
  std::string req = absl::StrCat("POST ", target.path_prefix, path,
                                 " HTTP/1.1\r\nHost: ", target.host, ":", target.port,
                                 "\r\nContent-Type: application/json\r\nAccept: text/event-stream, "
                                 "application/json\r\nConnection: close\r\nContent-Length: ",
                                 body.size(), "\r\n");
  for (const auto& h : options.headers) absl::StrAppend(&req, h, "\r\n");
  absl::StrAppend(&req, "\r\n", body);
  KVC_RETURN_IF_ERROR(WriteAll(sock.fd_, req, deadline));

  std::string head;
  char buf[16384];
  size_t split = std::string::npos;
  while (split == std::string::npos) {
    KVC_ASSIGN_OR_RETURN(size_t n,
                         ReadSome(sock.fd_, buf, sizeof(buf), deadline, options.idle_timeout));
    if (n == 0) return absl::UnavailableError("connection closed before a response");
    head.append(buf, n);
    split = head.find("\r\n\r\n");
    if (head.size() > (1 << 20)) return absl::DataLossError("response header over 1 MiB");
  }
  PostResult result;
  if (head.rfind("HTTP/1.", 0) != 0 || head.size() < 12)
    return absl::DataLossError("not an HTTP response");
  result.status = std::atoi(head.c_str() + 9);
  const std::string headers = head.substr(0, split + 2);
  result.retry_after = HeaderValue(headers, "retry-after");
  const bool chunked =
      absl::AsciiStrToLower(HeaderValue(headers, "transfer-encoding")) == "chunked";
  const bool events = HeaderValue(headers, "content-type").rfind("text/event-stream", 0) == 0;
  BodyDecoder decoder(chunked, events, on_event);
  KVC_RETURN_IF_ERROR(decoder.Feed(head.substr(split + 4)));
  while (!decoder.done()) {
    KVC_ASSIGN_OR_RETURN(size_t n,
                         ReadSome(sock.fd_, buf, sizeof(buf), deadline, options.idle_timeout));
    if (n == 0) break;  // close-delimited body, or the server went away
    KVC_RETURN_IF_ERROR(decoder.Feed(std::string(buf, n)));
  }
  if (chunked && !decoder.done()) return absl::DataLossError("stream ended before its last chunk");
  result.body = std::move(decoder.body());
  return result;
}

}  // namespace kvc::replay

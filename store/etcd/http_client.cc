#include "store/etcd/http_client.h"

#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace kvc::store {
namespace {

using SteadyClock = std::chrono::steady_clock;

int MillisLeft(SteadyClock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - SteadyClock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

// Owns a socket fd.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

Status Connect(const std::string& host, const std::string& port, SteadyClock::time_point deadline,
               Fd* out) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), port.c_str(), &hints, &res) != 0 || res == nullptr) {
    return absl::UnavailableError(absl::StrCat("cannot resolve ", host));
  }
  out->fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int rc = out->fd < 0 ? -1 : connect(out->fd, res->ai_addr, res->ai_addrlen);
  freeaddrinfo(res);
  if (out->fd < 0) return absl::UnavailableError("socket() failed");
  if (rc != 0 && errno != EINPROGRESS) {
    return absl::UnavailableError(
        absl::StrCat("connect ", host, ":", port, ": ", std::strerror(errno)));
  }
  pollfd p{out->fd, POLLOUT, 0};
  if (poll(&p, 1, MillisLeft(deadline)) <= 0) {
    return absl::DeadlineExceededError(absl::StrCat("connect ", host, ":", port, " timed out"));
  }
  int err = 0;
  socklen_t len = sizeof err;
  getsockopt(out->fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err != 0) {
    return absl::UnavailableError(
        absl::StrCat("connect ", host, ":", port, ": ", std::strerror(err)));
  }
  return Status();
}

Status SendAll(int fd, const std::string& data, SteadyClock::time_point deadline) {
  size_t sent = 0;
  while (sent < data.size()) {
    pollfd p{fd, POLLOUT, 0};
    if (poll(&p, 1, MillisLeft(deadline)) <= 0)
      return absl::DeadlineExceededError("HTTP send timed out");
    const ssize_t n = send(fd, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR)
      return absl::UnavailableError("HTTP send failed");
    if (n > 0) sent += static_cast<size_t>(n);
  }
  return Status();
}

StatusOr<std::string> ReadAll(int fd, SteadyClock::time_point deadline) {
  std::string data;
  char buf[16384];
  while (true) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, MillisLeft(deadline)) <= 0)
      return absl::DeadlineExceededError("HTTP read timed out");
    const ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n == 0) return data;
    if (n < 0 && errno != EAGAIN && errno != EINTR)
      return absl::UnavailableError("HTTP read failed");
    if (n > 0) data.append(buf, static_cast<size_t>(n));
  }
}

StatusOr<std::string> DecodeChunked(const std::string& body) {
  std::string out;
  size_t pos = 0;
  while (pos < body.size()) {
    const size_t eol = body.find("\r\n", pos);
    if (eol == std::string::npos) break;
    uint64_t size = 0;
    if (!absl::SimpleHexAtoi(body.substr(pos, eol - pos), &size)) {
      return absl::InternalError("HTTP: bad chunk size");
    }
    if (size == 0) break;
    if (eol + 2 + size > body.size()) return absl::InternalError("HTTP: truncated chunk");
    out.append(body, eol + 2, size);
    pos = eol + 2 + size + 2;
  }
  return out;
}

}  // namespace

StatusOr<std::string> HttpPost(const std::string& base_url, const std::string& path,
                               const std::string& body, std::chrono::milliseconds timeout) {
  const std::string prefix = "http://";
  const std::string hostport = base_url.rfind(prefix, 0) == 0 ? base_url.substr(prefix.size()) : "";
  const size_t colon = hostport.rfind(':');
  if (colon == std::string::npos || colon == 0 || hostport.find('/') != std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("etcd endpoint '", base_url, "' is not http://host:port"));
  }
  const auto deadline = SteadyClock::now() + timeout;
  Fd sock;
  KVC_RETURN_IF_ERROR(
      Connect(hostport.substr(0, colon), hostport.substr(colon + 1), deadline, &sock));
  const std::string request = absl::StrCat(
      "POST ", path, " HTTP/1.1\r\nHost: ", hostport, "\r\nContent-Type: application/json\r\n",
      "Content-Length: ", body.size(), "\r\nConnection: close\r\n\r\n", body);
  KVC_RETURN_IF_ERROR(SendAll(sock.fd, request, deadline));
  KVC_ASSIGN_OR_RETURN(std::string response, ReadAll(sock.fd, deadline));
  const size_t header_end = response.find("\r\n\r\n");
  int code = 0;
  if (header_end == std::string::npos || response.size() < 12 ||
      !absl::SimpleAtoi(response.substr(9, 3), &code)) {
    return absl::InternalError("HTTP: malformed response from " + base_url);
  }
  const std::string headers = response.substr(0, header_end);
  std::string payload = response.substr(header_end + 4);
  if (headers.find("Transfer-Encoding: chunked") != std::string::npos) {
    KVC_ASSIGN_OR_RETURN(payload, DecodeChunked(payload));
  }
  if (code < 200 || code > 299)
    return absl::InternalError(absl::StrCat("HTTP ", code, ": ", payload));
  return payload;
}

}  // namespace kvc::store

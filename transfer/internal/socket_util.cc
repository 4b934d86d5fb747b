#include "transfer/internal/socket_util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace kvc::transfer::internal {
namespace {

constexpr const char* kIdleMessage = "kvc-idle-socket";

Status Errno(absl::StatusCode code, const std::string& what, int err) {
  return Status(code, absl::StrCat(what, ": ", std::strerror(err)));
}

StatusOr<sockaddr_in> ToSockaddr(const std::string& host_port) {
  std::string host;
  int port = 0;
  KVC_RETURN_IF_ERROR(ParseHostPort(host_port, &host, &port));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (host == "localhost") host = "127.0.0.1";
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", host_port, "' is not an IPv4 address:port"));
  }
  return addr;
}

Status WaitConnected(int fd, const std::string& host_port, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLOUT, 0};
  int rc;
  do {
    rc = poll(&p, 1, static_cast<int>(timeout.count()));
  } while (rc < 0 && errno == EINTR);
  if (rc == 0) {
    return absl::UnavailableError(
        absl::StrCat("connect to ", host_port, " timed out after ", timeout.count(), " ms"));
  }
  int err = 0;
  socklen_t len = sizeof(err);
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (rc < 0) err = errno;
  if (err != 0) return Errno(absl::StatusCode::kUnavailable, "connect to " + host_port, err);
  return absl::OkStatus();
}

}  // namespace

Status ParseHostPort(const std::string& host_port, std::string* host, int* port) {
  const size_t colon = host_port.rfind(':');
  int value = -1;
  if (colon == std::string::npos || colon == 0 ||
      !absl::SimpleAtoi(host_port.substr(colon + 1), &value) || value < 0 || value > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", host_port, "' is not host:port with a port in 0..65535"));
  }
  *host = host_port.substr(0, colon);
  *port = value;
  return absl::OkStatus();
}

void SetSocketTimeout(int fd, std::chrono::milliseconds timeout) {
  timeval tv{};
  tv.tv_sec = timeout.count() / 1000;
  tv.tv_usec = (timeout.count() % 1000) * 1000;
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

StatusOr<int> ConnectTcp(const std::string& host_port, std::chrono::milliseconds timeout) {
  KVC_ASSIGN_OR_RETURN(sockaddr_in addr, ToSockaddr(host_port));
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return Errno(absl::StatusCode::kResourceExhausted, "socket", errno);
  int rc = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  Status status = absl::OkStatus();
  if (rc != 0 && errno != EINPROGRESS) {
    status = Errno(absl::StatusCode::kUnavailable, "connect to " + host_port, errno);
  } else if (rc != 0) {
    status = WaitConnected(fd, host_port, timeout);
  }
  if (!status.ok()) {
    close(fd);
    return status;
  }
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  SetSocketTimeout(fd, timeout);
  return fd;
}

StatusOr<int> ListenTcp(const std::string& host_port, int* bound_port) {
  KVC_ASSIGN_OR_RETURN(sockaddr_in addr, ToSockaddr(host_port));
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno(absl::StatusCode::kResourceExhausted, "socket", errno);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || listen(fd, 128) != 0) {
    const int err = errno;
    close(fd);
    return Errno(absl::StatusCode::kUnavailable, "cannot listen on " + host_port, err);
  }
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *bound_port = ntohs(addr.sin_port);
  return fd;
}

Status SendAll(int fd, struct iovec* iov, int count) {
  while (count > 0) {
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<size_t>(count);
    const ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        return absl::DeadlineExceededError("peer stopped reading (send timed out)");
      }
      return Errno(absl::StatusCode::kUnavailable, "send", errno);
    }
    size_t left = static_cast<size_t>(n);
    while (count > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      ++iov;
      --count;
    }
    if (count > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + left;
      iov->iov_len -= left;
    }
  }
  return absl::OkStatus();
}

Status SendAll(int fd, const void* data, uint64_t length) {
  iovec iov{const_cast<void*>(data), length};
  return SendAll(fd, &iov, 1);
}

Status RecvAll(int fd, void* data, uint64_t length, bool idle_ok) {
  char* p = static_cast<char*>(data);
  uint64_t got = 0;
  while (got < length) {
    const ssize_t n = recv(fd, p + got, length - got, 0);
    if (n > 0) {
      got += static_cast<uint64_t>(n);
      continue;
    }
    if (n == 0) return absl::UnavailableError("connection closed by peer");
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (idle_ok && got == 0) return absl::CancelledError(kIdleMessage);
      return absl::DeadlineExceededError("peer sent nothing within the timeout");
    }
    return Errno(absl::StatusCode::kUnavailable, "recv", errno);
  }
  return absl::OkStatus();
}

bool IsIdle(const Status& status) {
  return status.code() == absl::StatusCode::kCancelled && status.message() == kIdleMessage;
}

}  // namespace kvc::transfer::internal

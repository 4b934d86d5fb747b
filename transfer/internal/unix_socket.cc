#include "transfer/internal/unix_socket.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace kvc::transfer::internal {
namespace {

constexpr int kMaxFds = 4;

StatusOr<sockaddr_un> AbstractAddress(const std::string& name, socklen_t* length) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (name.empty() || name.size() + 1 > sizeof(addr.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("bad abstract socket name '", name, "'"));
  }
  std::memcpy(addr.sun_path + 1, name.data(), name.size());  // sun_path[0] = 0: abstract
  *length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size());
  return addr;
}

Status Errno(absl::StatusCode code, const std::string& what) {
  return Status(code, absl::StrCat(what, ": ", std::strerror(errno)));
}

}  // namespace

StatusOr<int> ListenUnix(const std::string& name) {
  socklen_t length = 0;
  KVC_ASSIGN_OR_RETURN(sockaddr_un addr, AbstractAddress(name, &length));
  const int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno(absl::StatusCode::kInternal, "socket(AF_UNIX)");
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), length) != 0 || listen(fd, 64) != 0) {
    Status s = Errno(absl::StatusCode::kUnavailable, "listen on @" + name);
    close(fd);
    return s;
  }
  return fd;
}

StatusOr<int> ConnectUnix(const std::string& name, std::chrono::milliseconds timeout) {
  socklen_t length = 0;
  KVC_ASSIGN_OR_RETURN(sockaddr_un addr, AbstractAddress(name, &length));
  const int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno(absl::StatusCode::kInternal, "socket(AF_UNIX)");
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), length) != 0) {
    Status s = Errno(absl::StatusCode::kUnavailable, "connect to @" + name);
    close(fd);
    return s;
  }
  return fd;
}

Status SendMessage(int fd, const void* data, uint64_t length, const std::vector<int>& fds) {
  iovec iov{const_cast<void*>(data), length};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
  if (!fds.empty()) {
    if (fds.size() > kMaxFds) return absl::InternalError("too many fds for one message");
    msg.msg_control = control;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t n;
  do {
    n = sendmsg(fd, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n != static_cast<ssize_t>(length)) return Errno(absl::StatusCode::kUnavailable, "sendmsg");
  return absl::OkStatus();
}

StatusOr<uint64_t> ReceiveMessage(int fd, void* data, uint64_t capacity, std::vector<int>* fds) {
  iovec iov{data, capacity};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxFds)] = {};
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  ssize_t n;
  do {
    n = recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (size_t i = 0; i < count; ++i) {
      int received = -1;
      std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      if (fds != nullptr) {
        fds->push_back(received);
      } else {
        close(received);
      }
    }
  }
  if (n < 0) {
    const bool timeout = errno == EAGAIN || errno == EWOULDBLOCK;
    return Errno(timeout ? absl::StatusCode::kDeadlineExceeded : absl::StatusCode::kUnavailable,
                 "recvmsg");
  }
  if (n == 0) return absl::UnavailableError("the peer closed the connection");
  if (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) return absl::DataLossError("message truncated");
  return static_cast<uint64_t>(n);
}

int64_t PeerUid(int fd) {
  ucred cred{};
  socklen_t length = sizeof(cred);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0) return -1;
  return cred.uid;
}

}  // namespace kvc::transfer::internal

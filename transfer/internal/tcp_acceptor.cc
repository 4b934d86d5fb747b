#include "transfer/internal/tcp_acceptor.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kvc/common/logging.h"
#include "kvc/common/metrics.h"
#include "kvc/common/secret.h"
#include "transfer/internal/socket_util.h"
#include "transfer/internal/wire.h"

namespace kvc::transfer::internal {
namespace {

using Clock = std::chrono::steady_clock;

void CountDrop(const char* reason) {
  MetricsRegistry::Default()
      .GetCounter("kvc_transfer_tcp_dropped_connections_total",
                  "TCP transfer connections closed before they authenticated: over_limit "
                  "(refused at a cap), evicted (replaced by a newer connection at a cap), "
                  "handshake_timeout, bad_hello, wrong_token",
                  {{"reason", reason}})
      .Increment();
}

void CountAuthFailure() {
  MetricsRegistry::Default()
      .GetCounter("kvc_transfer_auth_failures_total",
                  "Connections refused because of a wrong cluster token")
      .Increment();
}

// "ip" and "ip:port" of an accepted IPv4 peer.
void PeerOf(const sockaddr_in& addr, std::string* ip, std::string* peer) {
  char text[INET_ADDRSTRLEN] = "?";
  inet_ntop(AF_INET, &addr.sin_addr, text, sizeof(text));
  *ip = text;
  *peer = absl::StrCat(text, ":", ntohs(addr.sin_port));
}

void SetBlocking(int fd) {
  const int flags = fcntl(fd, F_GETFL);
  if (flags >= 0) fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
}

}  // namespace

StatusOr<std::unique_ptr<TcpAcceptor>> TcpAcceptor::Start(Options options, int listen_fd,
                                                          ServeFn on_serve) {
  const int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) {
    close(listen_fd);
    return absl::ResourceExhaustedError(absl::StrCat("eventfd: errno ", errno));
  }
  const int flags = fcntl(listen_fd, F_GETFL);
  fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK);
  std::unique_ptr<TcpAcceptor> a(
      new TcpAcceptor(std::move(options), listen_fd, wake, std::move(on_serve)));
  a->thread_ = std::thread([p = a.get()] { p->Loop(); });
  return a;
}

TcpAcceptor::TcpAcceptor(Options options, int listen_fd, int wake_fd, ServeFn on_serve)
    : options_(std::move(options)),
      listen_fd_(listen_fd),
      wake_fd_(wake_fd),
      on_serve_(std::move(on_serve)) {}

TcpAcceptor::~TcpAcceptor() {
  Stop();
  close(wake_fd_);
}

void TcpAcceptor::Stop() {
  std::call_once(stopped_, [this] {
    const uint64_t one = 1;
    (void)!write(wake_fd_, &one, sizeof(one));
    thread_.join();
    close(listen_fd_);
  });
}

void TcpAcceptor::Closed(const std::string& peer_ip) {
  std::lock_guard lock(mu_);
  --served_;
  Forget(peer_ip);
}

void TcpAcceptor::Forget(const std::string& ip) {
  auto it = per_peer_.find(ip);
  if (it != per_peer_.end() && --it->second == 0) per_peer_.erase(it);
}

void TcpAcceptor::Drop(std::list<Hello>::iterator it, const char* reason) {
  if (reason != nullptr) CountDrop(reason);  // before the peer can see the close
  close(it->fd);
  {
    std::lock_guard lock(mu_);
    Forget(it->ip);
  }
  hellos_.erase(it);
}

void TcpAcceptor::Loop() {
  std::vector<pollfd> fds;
  while (true) {
    // While out of file descriptors, leave the listen socket alone for a while
    // (it would stay readable and spin the loop); the backlog keeps new peers.
    const bool accepting = Clock::now() >= accept_paused_until_;
    fds.assign(
        {{wake_fd_, POLLIN, 0}, {listen_fd_, static_cast<short>(accepting ? POLLIN : 0), 0}});
    auto next = accepting ? Clock::time_point::max() : accept_paused_until_;
    for (const Hello& h : hellos_) {
      fds.push_back({h.fd, POLLIN, 0});
      next = std::min(next, h.deadline);
    }
    int wait_ms = -1;
    if (next != Clock::time_point::max()) {
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(next - Clock::now());
      wait_ms = static_cast<int>(std::max<int64_t>(0, left.count()));
    }
    if (poll(fds.data(), fds.size(), wait_ms) < 0 && errno != EINTR) {
      Logger("transfer")->error("transfer target poll failed: errno {}", errno);
      break;
    }
    if (fds[0].revents != 0) break;  // Stop()
    const auto now = Clock::now();
    size_t i = 2;
    for (auto it = hellos_.begin(); it != hellos_.end(); ++i) {
      auto current = it++;
      if (fds[i].revents != 0) {
        const Progress p = Advance(*current);
        if (p == Progress::kClosed) {
          Drop(current, nullptr);  // counted where it was decided
          continue;
        }
        if (p == Progress::kAuthenticated) {
          hellos_.erase(current);
          continue;
        }
      }
      if (current->deadline <= now) {
        Logger("transfer")
            ->debug("closing {}: no complete hello within {} ms", current->peer,
                    options_.handshake_timeout.count());
        Drop(current, "handshake_timeout");
      }
    }
    if (accepting && fds[1].revents != 0) AcceptAll();
  }
  while (!hellos_.empty()) Drop(hellos_.begin(), nullptr);
}

void TcpAcceptor::AcceptAll() {
  while (true) {
    sockaddr_in addr{};
    socklen_t len = sizeof(addr);
    const int fd =
        accept4(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        Logger("transfer")->warn("transfer target accept failed: errno {}; pausing 100 ms", errno);
        accept_paused_until_ = Clock::now() + std::chrono::milliseconds(100);
      } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
        Logger("transfer")->warn("transfer target accept failed: errno {}", errno);
      }
      return;
    }
    Hello h;
    h.fd = fd;
    PeerOf(addr, &h.ip, &h.peer);
    if (!Admit(h.ip)) {
      CountDrop("over_limit");
      close(fd);
      continue;
    }
    h.deadline = Clock::now() + options_.handshake_timeout;
    hellos_.push_back(std::move(h));
  }
}

bool TcpAcceptor::Admit(const std::string& ip) {
  auto evict_oldest = [&](bool same_peer) {
    for (auto it = hellos_.begin(); it != hellos_.end(); ++it) {
      if (same_peer && it->ip != ip) continue;
      CountDrop("evicted");
      close(it->fd);
      Forget(it->ip);
      hellos_.erase(it);
      return true;
    }
    return false;
  };
  std::lock_guard lock(mu_);
  auto count = [&] {
    auto it = per_peer_.find(ip);
    return it == per_peer_.end() ? 0u : it->second;
  };
  if (count() >= options_.max_connections_per_peer && !evict_oldest(/*same_peer=*/true)) {
    return false;
  }
  if (served_ + hellos_.size() >= options_.max_connections && !evict_oldest(false)) return false;
  ++per_peer_[ip];
  return true;
}

TcpAcceptor::Progress TcpAcceptor::Advance(Hello& h) {
  HelloFrame frame;
  size_t want = sizeof(frame);
  if (h.bytes.size() >= sizeof(frame)) {
    std::memcpy(&frame, h.bytes.data(), sizeof(frame));
    want += frame.token_length;
  }
  char buf[256];
  const size_t ask = std::min(sizeof(buf), want - h.bytes.size());  // never past the hello
  const ssize_t n = recv(h.fd, buf, ask, 0);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    return Progress::kClosed;  // the peer left before authenticating
  }
  if (n < 0) return Progress::kWaiting;
  h.bytes.append(buf, static_cast<size_t>(n));
  if (h.bytes.size() == sizeof(frame)) {
    std::memcpy(&frame, h.bytes.data(), sizeof(frame));
    if (frame.magic != kWireMagic || frame.token_length > kMaxTokenBytes) {
      Logger("transfer")->warn("refused connection from {}: not a kvc transfer hello", h.peer);
      CountDrop("bad_hello");
      return Progress::kClosed;
    }
  }
  if (h.bytes.size() < sizeof(frame) || h.bytes.size() < sizeof(frame) + frame.token_length) {
    return Progress::kWaiting;
  }
  return Reply(h) ? Progress::kAuthenticated : Progress::kClosed;
}

bool TcpAcceptor::Reply(Hello& h) {
  HelloFrame frame;
  std::memcpy(&frame, h.bytes.data(), sizeof(frame));
  const std::string_view token(h.bytes.data() + sizeof(frame), frame.token_length);
  HelloReplyFrame reply;
  if (frame.version != kWireVersion) {
    reply.code = static_cast<uint32_t>(absl::StatusCode::kFailedPrecondition);
    CountDrop("bad_hello");
  } else if (!ConstantTimeEquals(token, options_.cluster_token)) {
    reply.code = static_cast<uint32_t>(absl::StatusCode::kUnauthenticated);
    CountAuthFailure();
    CountDrop("wrong_token");
    Logger("transfer")->warn("refused connection from {}: wrong cluster token", h.peer);
  }
  // 8 bytes into a fresh socket's empty send buffer: never blocks.
  const bool sent = send(h.fd, &reply, sizeof(reply), MSG_NOSIGNAL) == sizeof(reply);
  if (!sent || reply.code != 0) return false;
  SetBlocking(h.fd);
  const int one = 1;
  setsockopt(h.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  SetSocketTimeout(h.fd, options_.socket_timeout);
  {
    std::lock_guard lock(mu_);
    ++served_;
  }
  on_serve_(h.fd, h.ip, h.peer);
  return true;
}

}  // namespace kvc::transfer::internal

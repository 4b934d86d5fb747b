// The front door of the TCP target: accepts connections, enforces the
// connection caps, and runs every hello (docs/transfer.md, "TCP wire format")
// on its own single thread, without a thread per connection, within a
// deadline. Only an authenticated connection is handed on (to `on_serve`,
// which then owns the fd).
//
// Caps (per peer IPv4 address and in total) count every connection the target
// holds: those still in their hello and those being served. A new connection
// over a cap replaces the oldest connection still in its hello (of that peer
// when the per-peer cap is hit, of anyone for the total); when every counted
// connection is authenticated it is closed at once. A hello not complete
// within `handshake_timeout` (however slowly its bytes trickle in) is closed.
// So a flood of idle connections costs one fd each, never starves peers that
// authenticate, and ends at the deadline. Dropped connections are counted in
// kvc_transfer_tcp_dropped_connections_total{reason}.
//
// Thread-safe. Stop() (also run by the destructor) ends the thread and closes
// connections still in their hello; served connections are the owner's.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <mutex>
#include <string>
#include <thread>

#include "kvc/common/status.h"

namespace kvc::transfer::internal {

class TcpAcceptor {
 public:
  struct Options {
    std::string cluster_token;                          // what a hello must carry
    uint32_t max_connections = 1024;                    // in total
    uint32_t max_connections_per_peer = 64;             // per peer IPv4 address
    std::chrono::milliseconds handshake_timeout{2000};  // the whole hello
    std::chrono::milliseconds socket_timeout{3000};     // set on handed-on sockets
  };
  // Called on the acceptor's thread for each authenticated connection: `fd`
  // (blocking, socket_timeout set, TCP_NODELAY) now belongs to the callee, which
  // must call Closed(peer_ip) once it has closed it. `peer` is "ip:port".
  using ServeFn = std::function<void(int fd, const std::string& peer_ip, const std::string& peer)>;

  // Takes `listen_fd` (listening; closed by Stop) and starts the thread.
  [[nodiscard]] static StatusOr<std::unique_ptr<TcpAcceptor>> Start(Options options, int listen_fd,
                                                                    ServeFn on_serve);
  ~TcpAcceptor();
  TcpAcceptor(const TcpAcceptor&) = delete;
  TcpAcceptor& operator=(const TcpAcceptor&) = delete;

  // Stops accepting and closes connections still in their hello; idempotent.
  void Stop();
  // A connection handed to on_serve has been closed: it no longer counts.
  void Closed(const std::string& peer_ip);

 private:
  struct Hello {
    int fd = -1;
    std::string ip;    // the per-peer cap's key
    std::string peer;  // "ip:port", for logs
    std::chrono::steady_clock::time_point deadline;
    std::string bytes;  // hello frame + token received so far
  };
  enum class Progress { kWaiting, kAuthenticated, kClosed };

  TcpAcceptor(Options options, int listen_fd, int wake_fd, ServeFn on_serve);
  void Loop();
  void AcceptAll();
  bool Admit(const std::string& ip);  // may evict; false = refuse
  Progress Advance(Hello& hello);     // reads what is there of the hello
  bool Reply(Hello& hello);           // sends the verdict; true = authenticated
  void Drop(std::list<Hello>::iterator it, const char* reason);
  void Forget(const std::string& ip);  // REQUIRES: mu_ held

  const Options options_;
  const int listen_fd_;
  const int wake_fd_;  // eventfd: Stop() wakes the poll
  const ServeFn on_serve_;
  std::thread thread_;
  std::once_flag stopped_;
  std::list<Hello> hellos_;  // oldest first; touched by the acceptor thread only
  // accept() ran out of descriptors: not polled again before then (acceptor thread only).
  std::chrono::steady_clock::time_point accept_paused_until_;
  std::mutex mu_;
  std::map<std::string, uint32_t> per_peer_;  // guarded by mu_; hellos + served
  uint32_t served_ = 0;                       // guarded by mu_
};

}  // namespace kvc::transfer::internal

// The target side of the TCP backend: accepts connections on listen_address,
// authenticates each with the cluster token within handshake_timeout, under
// caps per peer and in total (internal::TcpAcceptor: a wrong token is refused,
// logged and counted in kvc_transfer_auth_failures_total; idle or surplus
// connections are closed without a thread of their own), then serves READ /
// WRITE / GET_SEGMENT requests (docs/transfer.md, "TCP wire format"), one thread
// per authenticated connection. Every READ/WRITE is checked against the region table first; an
// out-of-region request is refused with OUT_OF_RANGE and touches no memory.
// SET_ID names a connection; FENCE(id) stops serving that connection (its
// queued requests are dropped) and waits until the request it is in has ended,
// so a write retried after a broken connection is applied after, never before,
// the abandoned attempt. VERBS_CONNECT hands its payload (a verbs QP handshake)
// to `verbs_connect` and answers with its result; when that connection closes,
// `verbs_disconnect` is told, so the QPs it asked for can go.
// Thread-safe; the destructor stops accepting, drops every connection and joins.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "kvc/common/status.h"
#include "transfer/internal/region_table.h"
#include "transfer/internal/tcp_acceptor.h"
#include "transfer/internal/thread_tracker.h"

namespace kvc::transfer {

class TcpTarget {
 public:
  struct Options {
    std::string listen_address = "127.0.0.1:0";
    std::string cluster_token;
    std::chrono::milliseconds timeout{3000};  // silence allowed inside one request
    // Connections held at once (in their hello or served), in total and per peer
    // IPv4 address, and the time a connection has to complete its hello.
    uint32_t max_connections = 1024;
    uint32_t max_connections_per_peer = 64;
    std::chrono::milliseconds handshake_timeout{2000};
    // Serves a VERBS_CONNECT payload that arrived on connection `connection` (a
    // number unique for this target); null = UNIMPLEMENTED (no verbs here).
    std::function<StatusOr<std::string>(uint64_t connection, const std::string& request)>
        verbs_connect;
    // Called once when a connection that sent VERBS_CONNECT closes.
    std::function<void(uint64_t connection)> verbs_disconnect;
  };
  // `regions` is borrowed and must outlive the target; `descriptor_json` returns
  // the current segment descriptor (called from connection threads).
  [[nodiscard]] static StatusOr<std::unique_ptr<TcpTarget>> Start(
      Options options, internal::RegionTable* regions,
      std::function<std::string()> descriptor_json);
  ~TcpTarget();
  TcpTarget(const TcpTarget&) = delete;
  TcpTarget& operator=(const TcpTarget&) = delete;

  // "ip:port" actually bound.
  const std::string& address() const { return address_; }

 private:
  TcpTarget(Options options, internal::RegionTable* regions, std::function<std::string()> json)
      : options_(std::move(options)), regions_(regions), descriptor_json_(std::move(json)) {}
  struct Connection {
    int fd = -1;
    uint64_t id = 0;                  // from SET_ID; 0 = unnamed
    uint64_t serial = 0;              // unique per target (verbs_connect's key)
    bool verbs = false;               // sent VERBS_CONNECT: tell verbs_disconnect at the end
    std::atomic<bool> fenced{false};  // a FENCE named it: serve nothing more
    bool done = false;                // guarded by mu_
  };
  void StartServing(int fd, const std::string& peer_ip);
  void Serve(int fd);
  bool ServeOne(Connection& connection, std::string* acks);
  bool Name(Connection& connection, uint64_t id);
  bool Fence(const Connection& self, uint64_t id);
  bool VerbsConnect(Connection& connection, uint64_t sequence, uint64_t length);

  const Options options_;
  internal::RegionTable* const regions_;
  const std::function<std::string()> descriptor_json_;
  std::string address_;
  std::unique_ptr<internal::TcpAcceptor> acceptor_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> next_serial_{1};
  internal::ThreadTracker tracker_;
  std::mutex mu_;
  std::set<int> connections_;              // guarded by mu_
  std::map<uint64_t, Connection*> by_id_;  // guarded by mu_; named connections being served
  std::condition_variable connection_done_;
};

}  // namespace kvc::transfer

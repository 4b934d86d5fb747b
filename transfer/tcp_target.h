// The target side of the TCP backend: accepts connections on listen_address,
// authenticates each with the cluster token (a wrong token is refused, logged and
// counted in kvc_transfer_auth_failures_total), then serves READ / WRITE /
// GET_SEGMENT requests (docs/transfer.md, "TCP wire format"), one thread per
// connection. Every READ/WRITE is checked against the region table first; an
// out-of-region request is refused with OUT_OF_RANGE and touches no memory.
// Thread-safe; the destructor stops accepting, drops every connection and joins.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "kvc/common/status.h"
#include "transfer/internal/region_table.h"
#include "transfer/internal/thread_tracker.h"

namespace kvc::transfer {

class TcpTarget {
 public:
  struct Options {
    std::string listen_address = "127.0.0.1:0";
    std::string cluster_token;
    std::chrono::milliseconds timeout{3000};  // silence allowed inside one request
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
  void AcceptLoop();
  void Serve(int fd);
  bool Authenticate(int fd, const std::string& peer);
  bool ServeOne(int fd, std::string* acks);

  const Options options_;
  internal::RegionTable* const regions_;
  const std::function<std::string()> descriptor_json_;
  std::string address_;
  int listen_fd_ = -1;
  std::thread acceptor_;
  std::atomic<bool> stopping_{false};
  internal::ThreadTracker tracker_;
  std::mutex mu_;
  std::set<int> connections_;  // guarded by mu_
};

}  // namespace kvc::transfer

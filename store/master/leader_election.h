// LeaderElection: several kvc-master processes elect one leader with an etcd
// lease. The winner writes its address under "<prefix>/leader" (attached to its
// lease) and keeps the lease alive; standbys retry until the key disappears (the
// leader died or stopped and its lease expired or was revoked). Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "store/etcd/etcd_client.h"

namespace kvc::store {

class LeaderElection {
 public:
  // `leader` is set while this process leads; `on_lost` runs (once, on the
  // election thread) when a held leadership is lost (keep-alive failed).
  LeaderElection(EtcdClient& etcd, std::string key, std::string address, int64_t ttl_s,
                 std::atomic<bool>& leader, std::function<void()> on_lost);
  ~LeaderElection();
  void Start();
  // Stops campaigning; a leader revokes its lease so a standby takes over at once.
  void Stop();

 private:
  void Loop();
  EtcdClient& etcd_;
  const std::string key_;
  const std::string address_;
  const int64_t ttl_s_;
  std::atomic<bool>& leader_;
  std::function<void()> on_lost_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;  // guarded by mu_
  int64_t lease_ = 0;  // election thread only (read by Stop after join)
  std::thread thread_;
};

}  // namespace kvc::store

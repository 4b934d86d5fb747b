// LeaderElection: several kvc-master processes elect one leader with an etcd
// lease. The winner writes its address under "<prefix>/leader" (attached to its
// lease) and keeps the lease alive; standbys retry until the key disappears (the
// leader died or stopped and its lease expired or was revoked). Every successful
// grant/keep-alive is reported to a Leadership, which keeps a leader whose lease
// might have expired from acting as one. Thread-safe.
#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "kvc/common/clock.h"
#include "store/etcd/etcd_client.h"
#include "store/master/leadership.h"

namespace kvc::store {

struct ElectionOptions {
  std::string key;          // "<prefix>/leader" = the leader's address, on its lease
  std::string history_key;  // "<prefix>/led": created (no lease) by the first leader ever
  std::string address;      // this master's gRPC address
  int64_t ttl_s = 3;        // lease TTL; keep-alives and campaign retries every ttl/3
};

class LeaderElection {
 public:
  // `etcd`, `clock` and `leadership` are borrowed. `on_elected(predecessor)` runs
  // on the election thread after winning and before `leadership` says so:
  // `predecessor` is false only when no master ever led under this prefix (the
  // history key was absent), true otherwise or when that cannot be read.
  // `on_lost` runs (once, on the election thread) when a held leadership is lost
  // (keep-alive failed).
  LeaderElection(EtcdClient& etcd, const Clock& clock, ElectionOptions options,
                 Leadership& leadership, std::function<void(bool predecessor)> on_elected,
                 std::function<void()> on_lost);
  ~LeaderElection();
  void Start();
  // Stops campaigning; a leader revokes its lease so a standby takes over at once.
  void Stop();

 private:
  void Loop();
  void Campaign();
  bool HadPredecessor();
  EtcdClient& etcd_;
  const Clock& clock_;
  const ElectionOptions options_;
  Leadership& leadership_;
  std::function<void(bool)> on_elected_;
  std::function<void()> on_lost_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;  // guarded by mu_
  int64_t lease_ = 0;  // election thread only (read by Stop after join)
  std::thread thread_;
};

}  // namespace kvc::store

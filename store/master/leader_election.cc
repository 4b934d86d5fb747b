#include "store/master/leader_election.h"

#include "kvc/common/logging.h"

namespace kvc::store {

LeaderElection::LeaderElection(EtcdClient& etcd, std::string key, std::string address,
                               int64_t ttl_s, std::atomic<bool>& leader,
                               std::function<void()> on_lost)
    : etcd_(etcd),
      key_(std::move(key)),
      address_(std::move(address)),
      ttl_s_(ttl_s),
      leader_(leader),
      on_lost_(std::move(on_lost)) {}

LeaderElection::~LeaderElection() { Stop(); }

void LeaderElection::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void LeaderElection::Stop() {
  {
    std::lock_guard lock(mu_);
    if (stop_ && !thread_.joinable()) return;
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (leader_.exchange(false) && lease_ != 0) (void)etcd_.RevokeLease(lease_);
}

void LeaderElection::Loop() {
  auto log = Logger("master");
  // Keep-alives at a third of the TTL; campaign retries at the same pace.
  const auto period = std::chrono::milliseconds(ttl_s_ * 1000 / 3);
  std::unique_lock lock(mu_);
  while (!stop_) {
    lock.unlock();
    if (!leader_) {
      auto lease = lease_ != 0 ? StatusOr<int64_t>(lease_) : etcd_.GrantLease(ttl_s_);
      if (lease.ok()) {
        lease_ = *lease;
        auto won = etcd_.CreateIfAbsent(key_, address_, lease_);
        if (won.ok() && *won) {
          leader_ = true;
          log->info("elected leader ({} = {})", key_, address_);
        }
        // Keep the unused lease alive too, so the next attempt can reuse it.
        if (won.ok() && !*won && !etcd_.KeepAlive(lease_).ok()) lease_ = 0;
        if (!won.ok()) log->warn("campaign: {}", won.status());
      } else {
        log->warn("campaign: {}", lease.status());
      }
    } else if (Status s = etcd_.KeepAlive(lease_); !s.ok()) {
      log->error("lost leadership: {}", s);
      leader_ = false;
      lease_ = 0;
      if (on_lost_) on_lost_();
      lock.lock();
      break;
    }
    lock.lock();
    wake_.wait_for(lock, period, [this] { return stop_; });
  }
}

}  // namespace kvc::store

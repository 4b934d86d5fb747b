#include "store/master/leader_election.h"

#include "kvc/common/logging.h"

namespace kvc::store {

LeaderElection::LeaderElection(EtcdClient& etcd, const Clock& clock, ElectionOptions options,
                               Leadership& leadership,
                               std::function<void(bool predecessor)> on_elected,
                               std::function<void()> on_lost)
    : etcd_(etcd),
      clock_(clock),
      options_(std::move(options)),
      leadership_(leadership),
      on_elected_(std::move(on_elected)),
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
  if (leadership_.leading()) {
    leadership_.SetLeading(false);
    if (lease_ != 0) (void)etcd_.RevokeLease(lease_);
  }
}

bool LeaderElection::HadPredecessor() {
  auto first = etcd_.CreateIfAbsent(options_.history_key, options_.address, /*lease_id=*/0);
  if (!first.ok()) {
    Logger("master")->warn("reading {}: {}; assuming a predecessor", options_.history_key,
                           first.status());
  }
  return !first.ok() || !*first;
}

void LeaderElection::Campaign() {
  auto log = Logger("master");
  const Clock::TimePoint sent = clock_.Now();
  if (lease_ == 0) {
    auto lease = etcd_.GrantLease(options_.ttl_s);
    if (!lease.ok()) {
      log->warn("campaign: {}", lease.status());
      return;
    }
    lease_ = *lease;
    leadership_.LeaseRefreshed(sent);
  }
  auto won = etcd_.CreateIfAbsent(options_.key, options_.address, lease_);
  if (!won.ok()) {
    log->warn("campaign: {}", won.status());
    return;
  }
  if (*won) {
    const bool predecessor = HadPredecessor();
    if (on_elected_) on_elected_(predecessor);
    leadership_.SetLeading(true);
    log->info("elected leader ({} = {}){}", options_.key, options_.address,
              predecessor ? ", taking over" : ", the first under this prefix");
    return;
  }
  // Keep the unused lease alive too, so the next attempt can reuse it.
  const Clock::TimePoint again = clock_.Now();
  if (etcd_.KeepAlive(lease_).ok()) {
    leadership_.LeaseRefreshed(again);
  } else {
    lease_ = 0;
  }
}

void LeaderElection::Loop() {
  auto log = Logger("master");
  // Keep-alives at a third of the TTL; campaign retries at the same pace.
  const auto period = std::chrono::milliseconds(options_.ttl_s * 1000 / 3);
  std::unique_lock lock(mu_);
  while (!stop_) {
    lock.unlock();
    if (!leadership_.leading()) {
      Campaign();
    } else {
      const Clock::TimePoint sent = clock_.Now();
      if (Status s = etcd_.KeepAlive(lease_); !s.ok()) {
        log->error("lost leadership: {}", s);
        leadership_.SetLeading(false);
        lease_ = 0;
        if (on_lost_) on_lost_();
        lock.lock();
        break;
      }
      leadership_.LeaseRefreshed(sent);
    }
    lock.lock();
    wake_.wait_for(lock, period, [this] { return stop_; });
  }
}

}  // namespace kvc::store

#include "prefill/internal/block_publisher.h"

#include "kvc/common/logging.h"

namespace kvc::prefill::internal {

BlockPublisher::BlockPublisher(engine::KvCache& cache, store::StoreClient& store,
                               uint32_t max_pending)
    : cache_(cache), store_(store), max_pending_(max_pending), thread_([this] { Loop(); }) {}

BlockPublisher::~BlockPublisher() { Shutdown(); }

bool BlockPublisher::Enqueue(std::vector<BlockKey> keys, std::vector<engine::BlockId> blocks) {
  {
    std::lock_guard lock(mu_);
    if (!stop_ && jobs_.size() < max_pending_) {
      pinned_ += static_cast<int64_t>(blocks.size());
      jobs_.push_back({std::move(keys), std::move(blocks)});
      cv_.notify_all();
      return true;
    }
  }
  for (engine::BlockId b : blocks) cache_.Free(b);
  return false;
}

int64_t BlockPublisher::pinned_blocks() const {
  std::lock_guard lock(mu_);
  return pinned_;
}

uint64_t BlockPublisher::stored_blocks() const {
  std::lock_guard lock(mu_);
  return stored_;
}

void BlockPublisher::Drain() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [this] { return jobs_.empty(); });
}

void BlockPublisher::Shutdown() {
  {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [this] { return jobs_.empty(); });
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BlockPublisher::Loop() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stop_ || !jobs_.empty(); });
    if (jobs_.empty()) return;  // stop_ and nothing left
    const Job& job = jobs_.front();
    lock.unlock();
    Put(job);  // only this thread pops, so the front job stays put meanwhile
    lock.lock();
    pinned_ -= static_cast<int64_t>(job.blocks.size());
    jobs_.pop_front();
    cv_.notify_all();
  }
}

void BlockPublisher::Put(const Job& job) {
  std::vector<store::PutItem> items;
  items.reserve(job.keys.size());
  for (size_t i = 0; i < job.keys.size(); ++i) {
    std::span<const uint8_t> block = cache_.Block(job.blocks[i]);
    items.push_back({job.keys[i], block.data(), block.size()});
  }
  const std::vector<Status> results = store_.BatchPut(items);
  uint64_t ok = 0;
  for (const Status& s : results) {
    if (s.ok() || absl::IsAlreadyExists(s)) {
      ++ok;
    } else {
      Logger("prefill")->debug("put of a prefill block failed: {}", s.ToString());
    }
  }
  for (engine::BlockId b : job.blocks) cache_.Free(b);
  std::lock_guard lock(mu_);
  stored_ += ok;
}

}  // namespace kvc::prefill::internal

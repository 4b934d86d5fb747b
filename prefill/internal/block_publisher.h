// Puts the full blocks a prefill computed into the KV pool in the background
// (StoreClient::BatchPut straight from the engine's cache blocks, which stay
// allocated — pinned — until their put is done, then are freed). At most
// `max_pending` requests' blocks wait or are being put at once; beyond that a
// request's blocks are freed without being stored, so the reply never waits.
//
// Thread-safe. One background thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "kvc/common/block_hash.h"
#include "kvc/engine/kv_cache.h"
#include "kvc/store/store_client.h"

namespace kvc::prefill::internal {

class BlockPublisher {
 public:
  // `cache` and `store` are borrowed and must outlive the publisher.
  BlockPublisher(engine::KvCache& cache, store::StoreClient& store, uint32_t max_pending);
  ~BlockPublisher();  // Shutdown()
  BlockPublisher(const BlockPublisher&) = delete;
  BlockPublisher& operator=(const BlockPublisher&) = delete;

  // Takes ownership of the allocated `blocks` and puts block i under keys[i].
  // Returns false (blocks freed at once, nothing stored) when `max_pending`
  // requests are already pending or the publisher is shut down.
  bool Enqueue(std::vector<BlockKey> keys, std::vector<engine::BlockId> blocks);
  // Blocks still pinned by pending puts.
  int64_t pinned_blocks() const;
  // Blocks the pool accepted (put OK or ALREADY_EXISTS) so far.
  uint64_t stored_blocks() const;
  // Blocks until every pending put is done (and their blocks freed).
  void Drain();
  // Drain(), then stops the thread. Idempotent.
  void Shutdown();

 private:
  struct Job {
    std::vector<BlockKey> keys;
    std::vector<engine::BlockId> blocks;
  };
  void Loop();
  void Put(const Job& job);

  engine::KvCache& cache_;
  store::StoreClient& store_;
  const uint32_t max_pending_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;  // guarded by mu_; the front one is being put
  bool stop_ = false;     // guarded by mu_
  int64_t pinned_ = 0;    // guarded by mu_
  uint64_t stored_ = 0;   // guarded by mu_
  std::thread thread_;
};

}  // namespace kvc::prefill::internal

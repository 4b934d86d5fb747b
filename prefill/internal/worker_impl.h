// PrefillWorkerImpl: the implementation behind kvc::prefill::PrefillWorker.
// The RPC threads validate a request, open the decode segment and queue it; one
// engine thread runs the queue FIFO (RunJob, run_job.cc); each RPC thread sleeps
// on a condition variable until its own job is done or the request deadline
// passes (no polling). A client that goes away without a Cancel is noticed where
// the engine thread looks: when it takes the job from the queue, at RunJob's
// cancellation checks, and when a full queue is swept before a refusal. Parked
// RPC threads are bounded by prefill.max_queue + 1.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "kvc/prefill/prefill_worker.h"
#include "kvc/v1/prefill.grpc.pb.h"
#include "prefill/internal/block_publisher.h"

namespace kvc::prefill::internal {

// One queued or running request.
struct Job {
  v1::PrefillRequest request;
  std::vector<transfer::SegmentHandle> handles;  // decode segment per decode_kv entry
  bool running = false;                          // guarded by the worker's mu_
  bool done = false;                             // guarded by the worker's mu_
  std::atomic<bool> cancelled{false};
  // The waiting RPC's context, so the engine thread can ask whether the client is
  // gone; null once that RPC returned. Guarded by the worker's mu_.
  grpc::ServerContext* context = nullptr;
  // A KV write batch outlived the job (timed out, still in the transfer engine).
  // Written by the engine thread before `done` is set under mu_; read after.
  bool writes_pending = false;
  Status status;  // result, valid once done
  v1::PrefillResponse response;
};

class PrefillWorkerImpl final : public PrefillWorker, public v1::Prefill::Service {
 public:
  PrefillWorkerImpl(const PrefillWorkerOptions& options, engine::Engine& engine,
                    transfer::TransferEngine& transfer, store::StoreClient* store);
  ~PrefillWorkerImpl() override;

  grpc::Service* service() override { return this; }
  v1::NodeLoad Load() const override;
  void Shutdown() override;

  grpc::Status Prefill(grpc::ServerContext* context, const v1::PrefillRequest* request,
                       v1::PrefillResponse* response) override;
  grpc::Status Cancel(grpc::ServerContext* context, const v1::CancelRequest* request,
                      v1::CancelResponse* response) override;

 private:
  Status Enqueue(const std::shared_ptr<Job>& job);
  // Waits until the job is done, the deadline passes or the client goes away.
  Status AwaitJob(grpc::ServerContext* context, const std::shared_ptr<Job>& job);
  // Removes a queued job (done with `why`) or flags the running one as cancelled.
  bool CancelJob(const std::shared_ptr<Job>& job, const Status& why);
  // True when the job's client went away. REQUIRES: mu_ held.
  static bool ClientGone(const Job& job);
  // Ends every queued job whose client went away. REQUIRES: mu_ held.
  void DropAbandonedLocked();
  // True when the running job should stop: cancelled or its client gone.
  bool ShouldStop(const Job& job) const;
  void EngineLoop();

  // ---- run_job.cc: engine thread only ----
  // Runs one request start to finish; leaves no engine block allocated on error.
  Status RunJob(Job& job, v1::PrefillResponse* response);
  // Hands the new full blocks to the publisher (or frees them); frees the rest.
  uint32_t ReleaseBlocks(const Job& job, engine::Sequence& seq, int64_t cached_blocks);
  // Waits for background puts when the cache lacks `blocks` free blocks otherwise.
  void MakeRoom(int64_t blocks);
  void FreePendingBatches();
  void RecordSpeed(int64_t tokens, double seconds);

  const PrefillWorkerOptions options_;
  engine::Engine& engine_;
  transfer::TransferEngine& transfer_;
  store::StoreClient* store_;
  std::unique_ptr<BlockPublisher> publisher_;       // null without a store or store_blocks
  std::vector<transfer::BatchId> pending_batches_;  // timed-out KV writes; engine thread only

  mutable std::mutex mu_;
  std::condition_variable work_cv_;         // engine thread: queue or stop changed
  std::condition_variable done_cv_;         // RPC threads: some job finished
  std::deque<std::shared_ptr<Job>> queue_;  // guarded by mu_
  std::shared_ptr<Job> running_;            // guarded by mu_
  uint64_t queued_tokens_ = 0;              // guarded by mu_
  double tokens_per_second_ = 0;            // guarded by mu_ (EWMA)
  bool stop_ = false;                       // guarded by mu_
  std::mutex shutdown_mu_;                  // serialises Shutdown()
  std::thread engine_thread_;
};

}  // namespace kvc::prefill::internal

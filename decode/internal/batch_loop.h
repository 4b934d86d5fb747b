// BatchLoop: the decode node's one engine thread. Each round it frees expired
// reservations, admits queued requests (up to max_batch; their prompt blocks are
// staged to the device first where the backend keeps KV there), retires cancelled
// and stalled ones, grows every running sequence by a block when it needs one (from
// its committed room), runs Engine::DecodeStep for the whole batch, samples, pushes
// the tokens to the streams, and retires the finished requests (blocks freed).
// Requests still waiting for a batch slot get an empty message every
// keepalive_interval, so a reader's idle timeout does not take them for a hung node.
//
// Thread-safe: Start/Stop from any thread; the rest runs on its own thread.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "decode/internal/request_table.h"
#include "kvc/engine/engine.h"

namespace kvc::decode::internal {

struct BatchLoopOptions {
  uint32_t max_batch = 256;
  std::chrono::milliseconds sweep_interval{50};  // idle wake-up to free expired reservations
  std::chrono::milliseconds stream_write_timeout{10000};
  // A request waiting for a batch slot gets an empty stream message this often.
  std::chrono::milliseconds keepalive_interval{5000};
};

class BatchLoop {
 public:
  // `engine` and `table` are borrowed and must outlive the loop.
  BatchLoop(engine::Engine& engine, RequestTable& table, const BatchLoopOptions& options);
  ~BatchLoop() { Stop(); }

  void Start();
  // Ends the thread after failing every running request with UNAVAILABLE. The
  // table must be closed first (RequestTable::Close). Idempotent.
  void Stop();

  // Decode throughput: EWMA of tokens per second of each step (batch size / step time).
  double tokens_per_second() const { return tokens_per_second_.load(); }
  // Tokens generated since start.
  uint64_t tokens_generated() const { return tokens_generated_.load(); }

 private:
  using RequestPtr = std::shared_ptr<Request>;
  void Run();
  void AdmitNew();
  // Ends and removes every running request that was cancelled or stalls.
  void RetireCancelled();
  // One DecodeStep over the running batch.
  void Step();
  void Finish(const RequestPtr& request, std::span<const int32_t> last_tokens = {});
  void FailAndRetire(const RequestPtr& request, const Status& status, bool abort = false);
  void RecordRate(size_t tokens, double seconds);

  engine::Engine& engine_;
  RequestTable& table_;
  const BatchLoopOptions options_;
  std::vector<RequestPtr> running_;  // engine thread only
  std::thread thread_;
  std::atomic<double> tokens_per_second_{0};
  std::atomic<uint64_t> tokens_generated_{0};
};

}  // namespace kvc::decode::internal

// Internals of the generation pipeline: the shared state (Pipeline::Impl) and one
// request's state machine (Call). See kvc/conductor/pipeline.h for the steps.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "conductor/thread_pool.h"
#include "conductor/worker_clients.h"
#include "kvc/common/block_hash.h"
#include "kvc/conductor/pipeline.h"
#include "kvc/conductor/text_stream.h"

namespace kvc::conductor {

class Call;

// True when a worker RPC failed because the node could not be reached at all.
bool Unreachable(const Status& s);

// steady_clock now in nanoseconds (for atomics shared between threads).
inline int64_t SteadyNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Pipeline::Impl {
  Impl(PipelineOptions o, const ServedModel& m, Placer& p, ConductorCounters& c,
       store::PrefixMatcher* s, const Clock& clk);

  // Runs `task` on the pool; false once shut down.
  bool Post(std::function<void()> task);
  bool PostAfter(std::chrono::milliseconds delay, std::function<void()> task);
  // A new call, tracked until it is destroyed (all its callbacks have run).
  std::shared_ptr<Call> NewCall(openai::GenerationRequest request,
                                std::shared_ptr<GenerationSink> sink);
  void Forget(Call* call);  // after the call's destructor
  // Fire-and-forget Cancel RPCs in flight (Shutdown waits for them).
  void CancelSent();
  void CancelDone();

  const PipelineOptions options;
  const ServedModel& model;
  Placer& placer;
  ConductorCounters& counters;
  store::PrefixMatcher* const store;
  const Clock& clock;
  WorkerClients clients;
  // Calls before their first token (Call::Begin .. first token or end); bounded by
  // options.max_waiting_requests.
  std::atomic<int64_t> waiting_calls{0};

  std::mutex mu;
  std::condition_variable cv;
  std::unique_ptr<ThreadPool> pool;           // guarded by mu (reset on shutdown)
  std::map<Call*, std::weak_ptr<Call>> live;  // guarded by mu
  int cancels_in_flight = 0;                  // guarded by mu
  std::atomic<bool> draining{false};          // BeginDrain() was called
  std::weak_ptr<Impl> self;                   // set by Pipeline
};

// One request. Steps run on the pool (Admit) or on gRPC callback threads (the rest);
// they form one chain, so at most one step of a call runs at a time. Cancel() may
// come from any thread at any time.
class Call : public RequestHandle, public std::enable_shared_from_this<Call> {
 public:
  Call(std::shared_ptr<Pipeline::Impl> impl, openai::GenerationRequest request,
       std::shared_ptr<GenerationSink> sink);
  ~Call() override;

  void Begin();  // queues Admit on the pool
  void Cancel() override;

  // Called by the Decode stream reactor.
  void OnDecodeMessage(const kvc::v1::DecodeResponse& message, grpc::ClientContext& ctx);
  void OnDecodeDone(const grpc::Status& status);

 private:
  using Reserve = UnaryCall<kvc::v1::ReserveRequest, kvc::v1::ReserveResponse>;
  using Prefill = UnaryCall<kvc::v1::PrefillRequest, kvc::v1::PrefillResponse>;

  void Admit();
  Status Prepare();
  void DoReserve();
  void OnReserved(const std::shared_ptr<Reserve>& call, const grpc::Status& status);
  void DoPrefill(const kvc::v1::ReserveResponse& reservation);
  void OnPrefilled(const std::shared_ptr<Prefill>& call, const grpc::Status& status);
  void OnFirstToken(const kvc::v1::PrefillResponse& response);
  void DoDecode();
  // Idle watch of the Decode stream: checks after `delay` whether a message came
  // within stream_idle_timeout_ms; if not, cancels the stream (OnDecodeDone reports it).
  void WatchStream(std::chrono::milliseconds delay);
  void CheckStreamIdle();
  // A node failed before the first token: retry elsewhere once, else fail.
  void NodeFailed(const kvc::v1::NodeInfo& node, const Status& why);
  // No decode node has KV room now: place again a little later (bounded by kv_wait_ms).
  void WaitForKv(const Status& why);
  void Complete(const std::string& finish_reason);
  // The idle watch cut the Decode stream: error to the client, Cancel on both workers.
  void StreamStalled();
  void Fail(const Status& status);
  // Fire-and-forget Cancel{R} to a worker. `kv_writes_done`: no KV write into the
  // decode reservation can still arrive (Prefill never sent, or answered OK), so the
  // decode node frees its blocks without quarantine.
  // `release_on_decode`: when the prefill node answers kv_writes_done, Cancel{R,
  // kv_writes_done} goes to that decode node too (it releases the quarantine).
  void CancelOnPrefill(const std::string& address, const std::string& release_on_decode = "");
  void CancelOnDecode(const std::string& address, bool kv_writes_done = false);
  // Marks the call finished; false when it already was (or was cancelled).
  bool Finish();
  bool Done();
  void SetInflight(std::shared_ptr<grpc::ClientContext> ctx);
  void Observe(const std::vector<uint32_t>& ids);
  kvc::v1::RequestHeader Header() const;
  const kvc::v1::NodeInfo& DecodeNode() const { return placement_.decode[decode_index_]; }

  const std::shared_ptr<Pipeline::Impl> impl_;
  const openai::GenerationRequest request_;
  const std::shared_ptr<GenerationSink> sink_;
  const std::string id_;
  const Clock::TimePoint arrival_;
  const int64_t deadline_unix_ms_;

  // Set by Prepare, then read-only.
  std::vector<uint32_t> prompt_;
  std::vector<BlockKey> keys_;
  std::vector<std::pair<std::string, uint32_t>> matches_;
  kvc::v1::SamplingParams sampling_;
  uint32_t max_new_ = 0;
  bool prepared_ = false;

  // Owned by the chain of steps.
  std::unique_ptr<TextStream> text_;
  std::set<std::string> excluded_;
  std::atomic<int> attempts_{0};  // read by Cancel() on any thread
  Placement placement_;
  size_t decode_index_ = 0;
  openai::Usage usage_;
  std::string finish_reason_;  // set once the stream's end is known
  Clock::TimePoint last_token_;
  uint32_t first_token_ = 0;
  int kv_waits_ = 0;
  bool waiting_gauge_ = false, running_gauge_ = false;
  // steady_clock ns of the last Decode message (or the stream's start); any thread.
  std::atomic<int64_t> stream_activity_ns_{0};
  std::atomic<bool> stalled_{false};  // the idle watch cancelled the Decode stream

  std::mutex mu_;
  bool done_ = false;              // guarded by mu_: the sink got its last event (or Cancel ran)
  bool cancelled_ = false;         // guarded by mu_
  bool prefill_answered_ = false;  // guarded by mu_: the Prefill call returned OK
  std::shared_ptr<grpc::ClientContext> inflight_;  // guarded by mu_
  std::string prefill_address_, decode_address_;   // guarded by mu_: where R may live
};

}  // namespace kvc::conductor

// Shared machinery of the simulated deployments: virtual time and the event queue, the
// perf model and scheduler, per-request bookkeeping and the continuous decode batch.
// Internal to bench/sim. Not thread-safe.
#pragma once

#include <cstdint>
#include <queue>
#include <string>
#include <vector>

#include "bench/sim/simulator.h"
#include "kvc/common/clock.h"
#include "kvc/conductor/policy.h"
#include "kvc/perfmodel/perf_model.h"

namespace kvc::sim::internal {

struct Event {
  double time = 0;
  uint64_t seq = 0;  // insertion order breaks ties, which keeps runs deterministic
  int kind = 0;
  int node = 0;
  int64_t request = 0;
  bool operator>(const Event& o) const { return time != o.time ? time > o.time : seq > o.seq; }
};

// Live state of an accepted request.
struct LiveRequest {
  int64_t context = 0;  // KV tokens held
  double last_token_s = 0;
  double expected_kv_s = 0;  // predicted time its KV reaches the decode node
  std::vector<float> gaps;   // inter-token gaps so far
  conductor::PrefillPlan plan;
};

// Requests decoding together on one node.
struct DecodeBatch {
  std::vector<int64_t> members;
  int64_t reserved_tokens = 0;  // input + output of every admitted request
  int64_t context_tokens = 0;   // sum of members' KV
};

class SimCore {
 public:
  SimCore(const std::vector<trace::TraceRequest>& trace, const SimOptions& options,
          perfmodel::PerfModel perf, conductor::PolicyOptions policy);

  const trace::TraceRequest& request(int64_t i) const { return trace_[i]; }
  int64_t request_count() const { return static_cast<int64_t>(results_.size()); }
  const SimOptions& options() const { return options_; }
  const perfmodel::PerfModel& perf() const { return perf_; }
  conductor::Scheduler& scheduler() { return scheduler_; }
  double now() const { return now_; }
  RequestResult& result(int64_t i) { return results_[i]; }
  LiveRequest& live(int64_t i) { return live_[i]; }

  void Push(double time, int kind, int node, int64_t request);
  // Pops the next event and advances virtual time (and the scheduler's clock) to it.
  bool Pop(Event& event);

  // Prefix tokens a node can reuse for request i when `matched_blocks` of its blocks are
  // cached; at least one token is always computed to produce the first output token.
  int64_t UsablePrefix(int64_t i, int64_t matched_blocks) const;
  void Reject(int64_t i);
  // The first token (from prefill) is out now.
  void FirstToken(int64_t i);
  // Whether request i's KV can ever fit in one node's KV memory (rejects it if not).
  bool CheckFitsOrReject(int64_t i, int64_t kv_capacity_tokens);
  void AddPrefillCompute(double seconds) { prefill_compute_s_ += seconds; }
  // KV memory of one node in tokens (option override or the perf model's).
  int64_t KvCapacityTokens() const {
    return options_.decode_kv_tokens > 0 ? options_.decode_kv_tokens : perf_.KvCapacityTokens();
  }

  // Admits request i (after its first token) to `batch`.
  void Admit(DecodeBatch& batch, int64_t i);
  // One decode step ended now: every member gets a token; finished members leave.
  void DecodeStepDone(DecodeBatch& batch);
  // Request i is done: records TBT and finish time.
  void Finish(int64_t i);

  SimResult TakeResult();

 private:
  const std::vector<trace::TraceRequest>& trace_;
  const SimOptions& options_;
  perfmodel::PerfModel perf_;
  FakeClock clock_;
  conductor::Scheduler scheduler_;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events_;
  uint64_t next_seq_ = 0;
  int64_t event_count_ = 0;
  double now_ = 0;
  double prefill_compute_s_ = 0;
  std::vector<RequestResult> results_;
  std::vector<LiveRequest> live_;
};

// The two deployment kinds; each runs the whole trace on `core`.
void RunDisaggregated(SimCore& core);
void RunColocated(SimCore& core);

}  // namespace kvc::sim::internal

// Colocated baselines (vLLM-like): every node runs both phases. Without chunking a
// waiting prefill runs alone and interrupts the decode batch; with chunking each
// iteration piggybacks one chunk of the head prefill on a decode step, and takes
// max(chunk compute, decode step) — an optimistic overlap, so gains measured against
// this baseline are conservative.
#include <algorithm>
#include <deque>

#include "bench/sim/block_lru.h"
#include "bench/sim/internal/sim_core.h"

namespace kvc::sim::internal {
namespace {

enum Kind { kArrival, kIterationDone };

struct Node {
  explicit Node(int64_t capacity_blocks) : cache(capacity_blocks) {}
  BlockLru cache;
  std::deque<int64_t> queue;  // placed, prefill not started
  double queued_s = 0;        // predicted prefill work of the queue
  DecodeBatch batch;
  int64_t prefilling = -1;  // request whose prefill is in progress
  int64_t prefilled = 0;    // its tokens done (cached prefix included)
  bool busy = false;
  double busy_until = 0;
  int64_t chunk = 0;      // prefill tokens of the running iteration
  bool decoding = false;  // the running iteration includes a decode step
};

class Colocated {
 public:
  explicit Colocated(SimCore& core) : core_(core) {
    const SimOptions& o = core.options();
    caching_ = o.deployment != Deployment::kColocatedNone;
    chunked_ = o.deployment == Deployment::kColocatedChunked;
    const int64_t blocks = !caching_            ? 0
                           : o.cache_tokens < 0 ? -1
                                                : o.cache_tokens / trace::kBlockTokens;
    nodes_.assign(o.prefill_nodes + o.decode_nodes, Node(blocks));
    kv_capacity_ = core.KvCapacityTokens();
  }

  void Run() {
    for (int64_t i = 0; i < core_.request_count(); ++i) {
      core_.Push(core_.result(i).arrival_s, kArrival, 0, i);
    }
    Event e;
    while (core_.Pop(e)) {
      if (e.kind == kArrival) {
        OnArrival(e.request);
      } else {
        OnIterationDone(e.node);
      }
    }
  }

 private:
  void OnArrival(int64_t i) {
    if (!core_.CheckFitsOrReject(i, kv_capacity_)) return;
    std::vector<conductor::PrefillNodeState> states(nodes_.size());
    const auto& ids = core_.request(i).hash_ids;
    for (size_t n = 0; n < nodes_.size(); ++n) {
      const Node& node = nodes_[n];
      states[n].node = static_cast<int>(n);
      const double running =
          node.prefilling >= 0 ? std::max(0.0, node.busy_until - core_.now()) : 0;
      states[n].queue_seconds = node.queued_s + running;
      states[n].prefix_tokens = core_.UsablePrefix(i, node.cache.MatchPrefix(ids));
    }
    const trace::TraceRequest& r = core_.request(i);
    auto decision = core_.scheduler().Schedule({r.input_length, r.output_length}, states, {});
    if (!decision.ok() || !decision->accepted) return core_.Reject(i);
    const conductor::PrefillPlan& plan = decision->prefill;
    core_.live(i).plan = plan;
    core_.result(i).prefill_node = core_.result(i).decode_node = plan.node;
    Node& node = nodes_[plan.node];
    node.queue.push_back(i);
    node.queued_s += plan.prefill_s;
    if (!node.busy) Iterate(plan.node);
  }

  // Starts the head prefill when its KV fits next to the running batch.
  void MaybeStartPrefill(Node& node) {
    if (node.prefilling >= 0 || node.queue.empty()) return;
    const int64_t i = node.queue.front();
    const RequestResult& r = core_.result(i);
    if (node.batch.reserved_tokens + r.input_tokens + r.output_tokens > kv_capacity_) return;
    node.queue.pop_front();
    node.queued_s =
        node.queue.empty() ? 0 : std::max(0.0, node.queued_s - core_.live(i).plan.prefill_s);
    node.batch.reserved_tokens += r.input_tokens + r.output_tokens;
    node.prefilling = i;
    node.prefilled = core_.UsablePrefix(i, node.cache.MatchPrefix(core_.request(i).hash_ids));
    core_.result(i).prefix_tokens = node.prefilled;
  }

  void Iterate(int n) {
    Node& node = nodes_[n];
    MaybeStartPrefill(node);
    node.chunk = 0;
    node.decoding = !node.batch.members.empty();
    if (node.prefilling >= 0) {
      const int64_t left = core_.result(node.prefilling).input_tokens - node.prefilled;
      node.chunk = chunked_ ? std::min(left, core_.options().chunk_tokens) : left;
      if (!chunked_) node.decoding = false;  // the prefill interrupts decoding
    }
    node.busy = node.chunk > 0 || node.decoding;
    if (!node.busy) return;
    double chunk_s = 0, step_s = 0;
    if (node.chunk > 0) {
      const int64_t input = core_.result(node.prefilling).input_tokens;
      const int64_t upto = node.prefilled + node.chunk;
      chunk_s = core_.perf().PrefillSeconds(upto, node.prefilled);
      core_.AddPrefillCompute(chunk_s);
      // While a prefill runs, queue estimates count its remaining work.
      node.busy_until = core_.now() + core_.perf().PrefillSeconds(input, node.prefilled);
    }
    if (node.decoding) {
      step_s = core_.perf().DecodeStepSeconds(static_cast<int64_t>(node.batch.members.size()),
                                              node.batch.context_tokens);
    }
    core_.Push(core_.now() + std::max(chunk_s, step_s), kIterationDone, n, 0);
  }

  void OnIterationDone(int n) {
    Node& node = nodes_[n];
    if (node.decoding) core_.DecodeStepDone(node.batch);
    if (node.chunk > 0) {
      node.prefilled += node.chunk;
      const int64_t i = node.prefilling;
      const RequestResult& r = core_.result(i);
      if (node.prefilled >= r.input_tokens) {
        node.prefilling = -1;
        node.cache.Touch(core_.request(i).hash_ids);
        core_.FirstToken(i);
        if (r.finish_s >= 0) {
          node.batch.reserved_tokens -= r.input_tokens + r.output_tokens;
        } else {
          core_.Admit(node.batch, i);
        }
      }
    }
    node.busy = false;
    Iterate(n);
  }

  SimCore& core_;
  std::vector<Node> nodes_;
  bool caching_ = false;
  bool chunked_ = false;
  int64_t kv_capacity_ = 0;
};

}  // namespace

void RunColocated(SimCore& core) { Colocated(core).Run(); }

}  // namespace kvc::sim::internal

// The disaggregated deployment: N prefill nodes with per-node DRAM caches forming the
// global pool, M decode nodes with continuous batching, placement by the policy library.
#include <algorithm>
#include <deque>

#include "bench/sim/block_lru.h"
#include "bench/sim/internal/sim_core.h"

namespace kvc::sim::internal {
namespace {

enum Kind { kArrival, kPrefillDone, kKvArrived, kStepDone };

struct PrefillNode {
  explicit PrefillNode(int64_t capacity_blocks) : cache(capacity_blocks) {}
  BlockLru cache;
  std::deque<int64_t> queue;
  bool busy = false;
  double busy_until = 0;
  double queued_s = 0;  // predicted work of the queued requests
};

struct DecodeNode {
  DecodeBatch batch;
  std::deque<int64_t> waiting;    // KV arrived, waiting for memory
  std::vector<int64_t> incoming;  // placed here, still in prefill or transfer
  bool stepping = false;
};

class Disaggregated {
 public:
  explicit Disaggregated(SimCore& core) : core_(core) {
    const SimOptions& o = core.options();
    const int64_t blocks = o.cache_tokens < 0 ? -1 : o.cache_tokens / trace::kBlockTokens;
    prefill_.assign(o.prefill_nodes, PrefillNode(blocks));
    decode_.resize(o.decode_nodes);
    kv_capacity_ = core.KvCapacityTokens();
  }

  void Run() {
    for (int64_t i = 0; i < core_.request_count(); ++i) {
      core_.Push(core_.result(i).arrival_s, kArrival, 0, i);
    }
    Event e;
    while (core_.Pop(e)) {
      switch (e.kind) {
        case kArrival:
          OnArrival(e.request);
          break;
        case kPrefillDone:
          OnPrefillDone(e.node, e.request);
          break;
        case kKvArrived:
          OnKvArrived(e.node, e.request);
          break;
        case kStepDone:
          OnStepDone(e.node);
          break;
      }
    }
  }

 private:
  std::vector<conductor::PrefillNodeState> PrefillSnapshot(int64_t i) const {
    std::vector<conductor::PrefillNodeState> nodes(prefill_.size());
    for (size_t n = 0; n < prefill_.size(); ++n) {
      const PrefillNode& p = prefill_[n];
      nodes[n].node = static_cast<int>(n);
      nodes[n].queue_seconds = std::max(0.0, p.busy_until - core_.now()) + p.queued_s;
      nodes[n].prefix_tokens =
          core_.UsablePrefix(i, p.cache.MatchPrefix(core_.request(i).hash_ids));
    }
    return nodes;
  }

  conductor::DecodeJob JobOf(int64_t i, double starts_in_s) {
    const RequestResult& r = core_.result(i);
    const int64_t context = std::max(core_.live(i).context, r.input_tokens);
    return {context, r.output_tokens - std::max<int64_t>(r.generated_tokens, 1), starts_in_s};
  }

  std::vector<conductor::DecodeNodeState> DecodeSnapshot() {
    std::vector<conductor::DecodeNodeState> nodes(decode_.size());
    for (size_t n = 0; n < decode_.size(); ++n) {
      const DecodeNode& d = decode_[n];
      nodes[n].node = static_cast<int>(n);
      nodes[n].kv_capacity_tokens = kv_capacity_;
      for (int64_t i : d.batch.members) nodes[n].jobs.push_back(JobOf(i, 0));
      for (int64_t i : d.waiting) nodes[n].jobs.push_back(JobOf(i, 0));
      for (int64_t i : d.incoming) {
        nodes[n].jobs.push_back(JobOf(i, std::max(0.0, core_.live(i).expected_kv_s - core_.now())));
      }
    }
    return nodes;
  }

  void OnArrival(int64_t i) {
    if (!core_.CheckFitsOrReject(i, kv_capacity_)) return;
    const trace::TraceRequest& r = core_.request(i);
    auto decision = core_.scheduler().Schedule({r.input_length, r.output_length},
                                               PrefillSnapshot(i), DecodeSnapshot());
    if (!decision.ok() || !decision->accepted) return core_.Reject(i);
    LiveRequest& live = core_.live(i);
    live.plan = decision->prefill;
    live.expected_kv_s = core_.now() + live.plan.ttft_s();
    RequestResult& res = core_.result(i);
    res.prefill_node = live.plan.node;
    res.decode_node = decision->decode.node;
    PrefillNode& p = prefill_[live.plan.node];
    p.queue.push_back(i);
    p.queued_s += live.plan.transfer_s + live.plan.prefill_s;
    decode_[res.decode_node].incoming.push_back(i);
    if (!p.busy) StartPrefill(live.plan.node);
  }

  void StartPrefill(int node) {
    PrefillNode& p = prefill_[node];
    if (p.queue.empty()) return;
    const int64_t i = p.queue.front();
    p.queue.pop_front();
    const conductor::PrefillPlan& plan = core_.live(i).plan;
    p.queued_s = std::max(0.0, p.queued_s - plan.transfer_s - plan.prefill_s);
    if (p.queue.empty()) p.queued_s = 0;  // no drift from floating-point leftovers
    // The plan was made at arrival; caches may have changed since, so use what is there now.
    const auto& ids = core_.request(i).hash_ids;
    const int64_t own = core_.UsablePrefix(i, p.cache.MatchPrefix(ids));
    int64_t prefix = own, fetched = 0;
    if (plan.fetch_from >= 0 && plan.fetch_from != node) {
      BlockLru& source = prefill_[plan.fetch_from].cache;
      const int64_t remote = core_.UsablePrefix(i, source.MatchPrefix(ids));
      if (remote > own) {
        fetched = remote - own;
        prefix = remote;
        source.Touch(std::span(ids).first(source.MatchPrefix(ids)));
      }
    }
    RequestResult& r = core_.result(i);
    r.prefix_tokens = prefix;
    r.fetched_tokens = fetched;
    const double compute_s = core_.perf().PrefillSeconds(r.input_tokens, prefix);
    core_.AddPrefillCompute(compute_s);
    p.busy = true;
    p.busy_until = core_.now() + core_.perf().NetworkSeconds(fetched) + compute_s;
    core_.Push(p.busy_until, kPrefillDone, node, i);
  }

  void OnPrefillDone(int node, int64_t i) {
    PrefillNode& p = prefill_[node];
    p.busy = false;
    p.cache.Touch(core_.request(i).hash_ids);
    const RequestResult& r = core_.result(i);
    // KV streams layer by layer during prefill: what is left is the last layer plus any
    // part of the transfer slower than the computation.
    const double network_s = core_.perf().NetworkSeconds(r.input_tokens);
    const double compute_s = core_.perf().PrefillSeconds(r.input_tokens, r.prefix_tokens);
    const double tail_s =
        network_s / core_.perf().spec().model.layers + std::max(0.0, network_s - compute_s);
    core_.FirstToken(i);
    if (r.finish_s >= 0) {
      Forget(decode_[r.decode_node].incoming, i);
    } else {
      core_.Push(core_.now() + tail_s, kKvArrived, r.decode_node, i);
    }
    StartPrefill(node);
  }

  static void Forget(std::vector<int64_t>& list, int64_t i) {
    list.erase(std::find(list.begin(), list.end(), i));
  }

  void OnKvArrived(int node, int64_t i) {
    DecodeNode& d = decode_[node];
    Forget(d.incoming, i);
    d.waiting.push_back(i);
    if (!d.stepping) AdmitAndStep(node);
  }

  void AdmitAndStep(int node) {
    DecodeNode& d = decode_[node];
    while (!d.waiting.empty()) {
      const RequestResult& r = core_.result(d.waiting.front());
      const int64_t need = r.input_tokens + r.output_tokens;
      if (d.batch.reserved_tokens + need > kv_capacity_) break;
      d.batch.reserved_tokens += need;
      core_.Admit(d.batch, d.waiting.front());
      d.waiting.pop_front();
    }
    d.stepping = !d.batch.members.empty();
    if (!d.stepping) return;
    const double step_s = core_.perf().DecodeStepSeconds(
        static_cast<int64_t>(d.batch.members.size()), d.batch.context_tokens);
    core_.Push(core_.now() + step_s, kStepDone, node, 0);
  }

  void OnStepDone(int node) {
    core_.DecodeStepDone(decode_[node].batch);
    AdmitAndStep(node);
  }

  SimCore& core_;
  std::vector<PrefillNode> prefill_;
  std::vector<DecodeNode> decode_;
  int64_t kv_capacity_ = 0;
};

}  // namespace

void RunDisaggregated(SimCore& core) { Disaggregated(core).Run(); }

}  // namespace kvc::sim::internal

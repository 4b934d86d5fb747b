// MatchPrefix and Get latency of the master core with 1 M objects on 32 nodes, and
// the throughput at 1, 2 and 8 threads of a mixed workload (put, get, prefix match,
// remove) and of MatchPrefix alone.
//   build-*/bin/store_master_core_bench
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "kvc/common/clock.h"
#include "kvc/common/metrics.h"
#include "store/master/master_core.h"

namespace kvc::store {
namespace {

constexpr uint64_t kObjects = 1'000'000;
constexpr int kNodes = 32;

// A core holding kObjects 64-byte objects spread over kNodes nodes (built once).
struct Loaded {
  Loaded() : core(Policy(), clock, metrics) {
    for (int n = 0; n < kNodes; ++n) {
      SegmentSpec s{.node_id = "node-" + std::to_string(n),
                    .hostname = "h",
                    .tier = Tier::kDram,
                    .capacity_bytes = 1ull << 32,
                    .transfer_segment = "seg",
                    .rpc_address = "x",
                    .base_address = 0};
      (void)core.MountSegment(s);
    }
    for (uint64_t i = 0; i < kObjects; ++i) {
      const BlockKey key{i / 1000, i};  // chains of 1000 keys
      (void)core.PutStart(key, 64, 1, "node-" + std::to_string((i / 1000) % kNodes));
      (void)core.PutEnd(key);
    }
  }
  static MasterPolicyOptions Policy() {
    MasterPolicyOptions p;
    p.max_object_bytes = 1 << 20;
    return p;
  }
  FakeClock clock;
  MetricsRegistry metrics;
  MasterCore core;
};

Loaded& Core() {
  static Loaded* loaded = new Loaded();
  return *loaded;
}

// A request of state.range(0) chained keys, all held by one node.
void BM_MatchPrefixHit(benchmark::State& state) {
  Loaded& l = Core();
  std::vector<BlockKey> keys;
  for (int64_t i = 0; i < state.range(0); ++i) keys.push_back(BlockKey{500, 500'000 + uint64_t(i)});
  for (auto _ : state) benchmark::DoNotOptimize(l.core.MatchPrefix(keys));
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(BM_MatchPrefixHit)->Arg(16)->Arg(128)->Arg(1000);

// A request whose first key is unknown (a cold prompt).
void BM_MatchPrefixMiss(benchmark::State& state) {
  Loaded& l = Core();
  std::vector<BlockKey> keys(128, BlockKey{~0ull, 1});
  for (auto _ : state) benchmark::DoNotOptimize(l.core.MatchPrefix(keys));
}
BENCHMARK(BM_MatchPrefixMiss);

void BM_Get(benchmark::State& state) {
  Loaded& l = Core();
  uint64_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(l.core.Get(BlockKey{(i % kObjects) / 1000, i % kObjects}, ""));
    i += 7919;
  }
}
BENCHMARK(BM_Get);

// MatchPrefix of 128 held keys, starting at a different chain each call (the
// cache cannot keep one chain hot); reports the p50/p99 of single calls.
void BM_MatchPrefixLatency(benchmark::State& state) {
  Loaded& l = Core();
  std::vector<double> us;
  std::vector<BlockKey> keys(128);
  uint64_t chain = 0;
  for (auto _ : state) {
    chain = (chain + 379) % (kObjects / 1000);
    for (size_t i = 0; i < keys.size(); ++i) keys[i] = BlockKey{chain, chain * 1000 + 500 + i};
    const auto t0 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(l.core.MatchPrefix(keys));
    us.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(us.begin(), us.end());
  if (!us.empty()) {
    state.counters["p50_us"] = us[us.size() / 2];
    state.counters["p99_us"] = us[std::min(us.size() - 1, us.size() * 99 / 100)];
  }
}
BENCHMARK(BM_MatchPrefixLatency);

// What a busy master serves, per thread: PutStart + PutEnd of a new key, a Get of
// a stored key, a 16-key MatchPrefix and the Remove of the new key (5 calls, each
// counted as one item). Threads share the core (and its mutex); items_per_second
// is the total over all threads.
void BM_MixedOps(benchmark::State& state) {
  Loaded& l = Core();
  const uint64_t me = 1'000'000'000ull + static_cast<uint64_t>(state.thread_index());
  const std::string node = "node-" + std::to_string(state.thread_index() % kNodes);
  std::vector<BlockKey> prefix(16);
  uint64_t n = 0, i = static_cast<uint64_t>(state.thread_index()) * 104729;
  for (auto _ : state) {
    const BlockKey fresh{me, n++};
    benchmark::DoNotOptimize(l.core.PutStart(fresh, 64, 1, node));
    benchmark::DoNotOptimize(l.core.PutEnd(fresh));
    i = (i + 7919) % kObjects;
    benchmark::DoNotOptimize(l.core.Get(BlockKey{i / 1000, i}, ""));
    const uint64_t chain = i / 1000;
    for (size_t k = 0; k < prefix.size(); ++k) prefix[k] = BlockKey{chain, chain * 1000 + k};
    benchmark::DoNotOptimize(l.core.MatchPrefix(prefix));
    benchmark::DoNotOptimize(l.core.Remove(fresh));
  }
  state.SetItemsProcessed(state.iterations() * 5);
}
BENCHMARK(BM_MixedOps)->Threads(1)->Threads(2)->Threads(8)->UseRealTime();

// The conductor's call alone: 128-key MatchPrefix from 1, 2 and 8 threads
// (items_per_second = calls per second over all threads).
void BM_MatchPrefixThreads(benchmark::State& state) {
  Loaded& l = Core();
  std::vector<BlockKey> keys(128);
  uint64_t chain = static_cast<uint64_t>(state.thread_index()) * 101;
  for (auto _ : state) {
    chain = (chain + 379) % (kObjects / 1000);
    for (size_t i = 0; i < keys.size(); ++i) keys[i] = BlockKey{chain, chain * 1000 + 500 + i};
    benchmark::DoNotOptimize(l.core.MatchPrefix(keys));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MatchPrefixThreads)->Threads(1)->Threads(2)->Threads(8)->UseRealTime();

}  // namespace
}  // namespace kvc::store

BENCHMARK_MAIN();

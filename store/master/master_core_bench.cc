// MatchPrefix and Get latency of the master core with 1 M objects in the index.
//   build-*/bin/store_master_core_bench
#include <benchmark/benchmark.h>

#include <vector>

#include "kvc/common/clock.h"
#include "kvc/common/metrics.h"
#include "store/master/master_core.h"

namespace kvc::store {
namespace {

constexpr uint64_t kObjects = 1'000'000;
constexpr int kNodes = 8;

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

}  // namespace
}  // namespace kvc::store

BENCHMARK_MAIN();

#include "bench/sim/simulator.h"

#include <gtest/gtest.h>

#include "bench/sim/report.h"
#include "kvc/perfmodel/perf_model.h"

namespace kvc::sim {
namespace {

using trace::TraceRequest;

TraceRequest Req(double t_ms, int64_t input, int64_t output, std::vector<int64_t> ids) {
  TraceRequest r;
  r.timestamp_ms = t_ms;
  r.input_length = input;
  r.output_length = output;
  r.hash_ids = std::move(ids);
  return r;
}

std::vector<int64_t> Ids(int64_t first, int64_t count) {
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < count; ++i) ids.push_back(first + i);
  return ids;
}

// A small random trace with shared prefixes (deterministic).
std::vector<TraceRequest> SmallTrace(int n) {
  std::vector<TraceRequest> t;
  uint64_t x = 12345;
  for (int i = 0; i < n; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    const int64_t blocks = 2 + (x >> 33) % 30;
    const int64_t shared = (x >> 20) % 3 == 0 ? 0 : 1 + (x >> 40) % blocks;
    std::vector<int64_t> ids = Ids(((x >> 50) % 4) * 1000, shared);
    for (int64_t b = shared; b < blocks; ++b) ids.push_back(100000 + i * 100 + b);
    t.push_back(Req(i * 150.0, blocks * 512, 1 + (x >> 45) % 200, ids));
    t.back().index = i;
  }
  return t;
}

SimOptions Small(Deployment d = Deployment::kDisaggregated) {
  SimOptions o;
  o.deployment = d;
  o.prefill_nodes = 2;
  o.decode_nodes = 2;
  return o;
}

const perfmodel::PerfModel& Perf() {
  static const perfmodel::PerfModel perf(*perfmodel::PresetSpec("llama3-70b-a800x8"));
  return perf;
}

// One request: TTFT is exactly its prefill; TBT is its longest gap, KV tail + first step.
TEST(SimulatorTest, SingleRequestMatchesHandComputedTimes) {
  auto r = RunSimulation({Req(0, 1000, 3, {})}, Small());
  ASSERT_TRUE(r.ok()) << r.status();
  const RequestResult& q = r->requests[0];
  EXPECT_NEAR(q.ttft_s, Perf().PrefillSeconds(1000, 0), 1e-12);
  const double net = Perf().NetworkSeconds(1000);
  const double first_gap = net / 80 + Perf().DecodeStepSeconds(1, 1000);
  EXPECT_NEAR(q.tbt_s, first_gap, 1e-6);  // ceil(10% of 2 gaps) = the longest one
  EXPECT_EQ(q.generated_tokens, 3);
  EXPECT_EQ(r->summary.completed, 1);
  EXPECT_NEAR(r->summary.prefill_gpu_seconds, 8 * Perf().PrefillSeconds(1000, 0), 1e-9);
}

// A repeated prompt reuses all but its last token from the prefill node's cache.
TEST(SimulatorTest, RepeatedPromptHitsTheCache) {
  auto r = RunSimulation({Req(0, 1024, 2, {1, 2}), Req(60000, 1024, 2, {1, 2})}, Small());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->requests[1].prefix_tokens, 1023);
  EXPECT_DOUBLE_EQ(r->summary.cache_hit_rate, 1023.0 / 2048.0);
  EXPECT_LT(r->requests[1].ttft_s, r->requests[0].ttft_s);
}

// Node 0 holds A's prefix but is busy with a huge prompt: global-cache moves the prefix
// to idle node 1 (replication); local-cache recomputes it there.
TEST(SimulatorTest, GlobalCacheFetchesWhileLocalRecomputes) {
  std::vector<TraceRequest> t = {Req(0, 4096, 2, Ids(1, 8)), Req(10000, 60000, 2, Ids(500, 118)),
                                 Req(10001, 4608, 2, Ids(1, 9))};
  SimOptions o = Small();
  auto global = RunSimulation(t, o);
  o.policy = conductor::PrefillPolicy::kLocalCache;
  auto local = RunSimulation(t, o);
  ASSERT_TRUE(global.ok() && local.ok());
  EXPECT_EQ(global->requests[1].prefill_node, 0);
  EXPECT_EQ(global->requests[2].prefill_node, 1);
  EXPECT_EQ(global->requests[2].fetched_tokens, 4096);
  EXPECT_EQ(local->requests[2].prefill_node, 1);
  EXPECT_EQ(local->requests[2].prefix_tokens, 0);
  EXPECT_LT(global->requests[2].ttft_s, local->requests[2].ttft_s);
  // Per-node caches only (--pool local): global-cache placement cannot fetch either.
  o.policy = conductor::PrefillPolicy::kGlobalCache;
  o.global_pool = false;
  auto isolated = RunSimulation(t, o);
  ASSERT_TRUE(isolated.ok());
  EXPECT_EQ(isolated->requests[2].fetched_tokens, 0);
  EXPECT_EQ(isolated->requests[2].prefix_tokens, 0);
}

// Same inputs and seed give identical results, down to every request.
TEST(SimulatorTest, SameSeedSameResult) {
  SimOptions o = Small();
  o.policy = conductor::PrefillPolicy::kRandom;
  auto a = RunSimulation(SmallTrace(300), o);
  auto b = RunSimulation(SmallTrace(300), o);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(SummaryJson(o, a->summary, 0).dump(), SummaryJson(o, b->summary, 0).dump());
  for (size_t i = 0; i < a->requests.size(); ++i) {
    EXPECT_EQ(a->requests[i].prefill_node, b->requests[i].prefill_node);
    EXPECT_EQ(a->requests[i].ttft_s, b->requests[i].ttft_s);
  }
  o.seed = 2;
  auto c = RunSimulation(SmallTrace(300), o);
  int differ = 0;
  for (size_t i = 0; i < a->requests.size(); ++i) {
    differ += a->requests[i].prefill_node != c->requests[i].prefill_node;
  }
  EXPECT_GT(differ, 0);
}

// Every request completes or is rejected exactly once, in every deployment, and the
// tokens generated are exactly the output tokens of the completed requests.
TEST(SimulatorTest, ConservationInEveryDeployment) {
  const auto trace = SmallTrace(300);
  for (Deployment d : {Deployment::kDisaggregated, Deployment::kColocatedNone,
                       Deployment::kColocatedPrefix, Deployment::kColocatedChunked}) {
    for (auto rejection : {conductor::RejectionPolicy::kNone, conductor::RejectionPolicy::kPlain}) {
      SimOptions o = Small(d);
      o.rate_scale = 8;  // overloaded, so plain rejection fires
      o.ttft_slo_s = 2;
      o.rejection = rejection;
      auto r = RunSimulation(trace, o);
      ASSERT_TRUE(r.ok());
      int64_t expected_out = 0, input = 0;
      for (const RequestResult& q : r->requests) {
        EXPECT_NE(q.rejected, q.finish_s >= 0) << DeploymentName(d) << " request " << q.index;
        if (q.rejected) continue;
        EXPECT_EQ(q.generated_tokens, q.output_tokens);
        EXPECT_GE(q.ttft_s, 0);
        EXPECT_LE(q.prefix_tokens, q.input_tokens - 1);
        expected_out += q.output_tokens;
        input += q.input_tokens;
      }
      const SimSummary& s = r->summary;
      EXPECT_EQ(s.completed + s.rejected, s.requests);
      EXPECT_EQ(s.output_tokens, expected_out);
      EXPECT_EQ(s.input_tokens, input);
      if (rejection == conductor::RejectionPolicy::kPlain) {
        EXPECT_GT(s.rejected, 0) << DeploymentName(d);
      } else {
        EXPECT_EQ(s.rejected, 0);
      }
    }
  }
}

// Colocated: a prefill stalls the running decode for its whole length; chunking caps
// the stall at one chunk (so the decoding request's TBT drops).
TEST(SimulatorTest, ColocatedPrefillInterruptsDecodeUnlessChunked) {
  std::vector<TraceRequest> t = {Req(0, 1000, 200, Ids(1, 2)), Req(500, 20000, 2, Ids(50, 40))};
  auto plain = RunSimulation(t, Small(Deployment::kColocatedPrefix));
  auto chunked = RunSimulation(t, Small(Deployment::kColocatedChunked));
  ASSERT_TRUE(plain.ok() && chunked.ok());
  ASSERT_EQ(plain->requests[1].prefill_node, plain->requests[0].prefill_node);
  const double stall = Perf().PrefillSeconds(20000, 0);
  EXPECT_GE(plain->requests[0].tbt_s, stall / 20);  // one stalled gap among the top 20
  EXPECT_LT(chunked->requests[0].tbt_s, plain->requests[0].tbt_s);
  EXPECT_GT(chunked->requests[1].ttft_s, plain->requests[1].ttft_s - 1e-9);
}

// With KV memory for one request only, the second waits for the first to finish
// decoding before its first decode step, which shows as one long gap.
TEST(SimulatorTest, DecodeMemoryLimitQueuesRequests) {
  std::vector<TraceRequest> t = {Req(0, 1000, 100, {}), Req(0, 1000, 100, {})};
  SimOptions o = Small();
  o.decode_nodes = 1;
  auto roomy = RunSimulation(t, o);
  o.decode_kv_tokens = 1500;
  auto tight = RunSimulation(t, o);
  ASSERT_TRUE(roomy.ok() && tight.ok());
  const double decode_99_steps = 99 * Perf().DecodeStepSeconds(1, 1000);
  EXPECT_LT(roomy->requests[1].tbt_s, 0.1);
  EXPECT_GT(tight->requests[1].tbt_s * 10, decode_99_steps);  // one gap among the top 10
  EXPECT_EQ(tight->summary.completed, 2);
}

// A slower NIC lengthens the KV hand-over to decode (the first inter-token gap).
TEST(SimulatorTest, NicBandwidthSetsKvTransferTime) {
  SimOptions o = Small();
  o.nic_gbps = 8;  // 1 GB/s
  auto r = RunSimulation({Req(0, 1000, 3, {})}, o);
  ASSERT_TRUE(r.ok());
  const double net = 1000 * Perf().KvBytesPerToken() / 1e9;
  const double compute = Perf().PrefillSeconds(1000, 0);
  EXPECT_NEAR(r->requests[0].tbt_s,
              net / 80 + std::max(0.0, net - compute) + Perf().DecodeStepSeconds(1, 1000), 1e-6);
}

// TBT is the mean of the longest ceil(10%) gaps.
TEST(SimulatorTest, TbtIsMeanOfLongestTenthOfGaps) {
  EXPECT_EQ(TbtFromGaps({}), 0);
  EXPECT_FLOAT_EQ(TbtFromGaps({0.1f, 0.5f, 0.2f}), 0.5f);
  std::vector<float> gaps(20, 0.01f);
  gaps[3] = 0.3f;
  gaps[7] = 0.5f;
  EXPECT_FLOAT_EQ(TbtFromGaps(gaps), 0.4f);
}

// Bad options are rejected with the flag name and nothing runs.
TEST(SimulatorTest, BadOptionsNameTheFlag) {
  SimOptions o = Small();
  o.prefill_nodes = 0;
  auto r = RunSimulation(SmallTrace(3), o);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string(r.status().message()).find("--prefill"), std::string::npos);
  o = Small();
  o.rate_scale = 0;
  EXPECT_FALSE(RunSimulation(SmallTrace(3), o).ok());
  o = Small();
  o.preset = "tpu";
  EXPECT_EQ(RunSimulation(SmallTrace(3), o).status().code(), absl::StatusCode::kNotFound);
  EXPECT_FALSE(ParseColocated("sometimes").ok());
}

}  // namespace
}  // namespace kvc::sim

#include "kvc/conductor/policy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <set>

namespace kvc::conductor {
namespace {

// 1 s per 1000 uncached tokens; 0.1 s per 1000 transferred tokens; decode step
// 10 ms + 10 us per context token.
CostModel HandCost(double transfer_s_per_1000 = 0.1) {
  CostModelOptions o;
  o.kv_bytes_per_token = 1;
  o.transfer_bytes_per_s = 1000 / transfer_s_per_1000;
  o.decode_base_seconds = 0.01;
  o.decode_seconds_per_token = 1e-5;
  return CostModel(PrefillTimeModel({0, 1, -1, 0, 0, 0}), o);
}

struct Fixture {
  FakeClock clock;
  Scheduler Make(PolicyOptions o, CostModel cost = HandCost()) {
    return Scheduler(o, std::move(cost), clock);
  }
};

PolicyOptions With(PrefillPolicy p) {
  PolicyOptions o;
  o.prefill = p;
  return o;
}

const ScheduleRequest k5000{5000, 10};

// A node with a long match but a long queue loses to an idle node when recomputing is
// cheaper than waiting (11 s vs 5 s), and wins when its queue is short (3 s vs 5 s).
TEST(PolicyTest, LocalCacheWeighsQueueAgainstMatch) {
  Fixture f;
  Scheduler s = f.Make(With(PrefillPolicy::kLocalCache));
  std::vector<PrefillNodeState> nodes = {{0, 10.0, 4000}, {1, 0.0, 0}};
  PrefillPlan p = s.PlacePrefill(k5000, nodes);
  EXPECT_EQ(p.node, 1);
  EXPECT_DOUBLE_EQ(p.ttft_s(), 5.0);
  nodes[0].queue_seconds = 2.0;
  p = s.PlacePrefill(k5000, nodes);
  EXPECT_EQ(p.node, 0);
  EXPECT_EQ(p.prefix_tokens, 4000);
  EXPECT_DOUBLE_EQ(p.ttft_s(), 3.0);
}

// Global cache: the idle node fetches the busy node's 4000-token prefix (0.4 s + 1 s),
// which replicates the hot blocks, instead of recomputing (5 s).
TEST(PolicyTest, GlobalCacheFetchesBestRemotePrefix) {
  Fixture f;
  Scheduler s = f.Make(With(PrefillPolicy::kGlobalCache));
  std::vector<PrefillNodeState> nodes = {{0, 10.0, 4000}, {1, 0.0, 0}};
  PrefillPlan p = s.PlacePrefill(k5000, nodes);
  EXPECT_EQ(p.node, 1);
  EXPECT_EQ(p.fetch_from, 0);
  EXPECT_EQ(p.fetch_tokens, 4000);
  EXPECT_EQ(p.prefix_tokens, 4000);
  EXPECT_NEAR(p.transfer_s, 0.4, 1e-12);
  EXPECT_NEAR(p.ttft_s(), 1.4, 1e-12);
}

// When moving blocks costs more than recomputing them, nothing is fetched.
TEST(PolicyTest, GlobalCacheRecomputesWhenTransferIsDearer) {
  Fixture f;
  Scheduler s = f.Make(With(PrefillPolicy::kGlobalCache), HandCost(/*transfer=*/2.0));
  std::vector<PrefillNodeState> nodes = {{0, 10.0, 4000}, {1, 0.0, 0}};
  PrefillPlan p = s.PlacePrefill(k5000, nodes);
  EXPECT_EQ(p.node, 1);
  EXPECT_EQ(p.fetch_from, -1);
  EXPECT_DOUBLE_EQ(p.ttft_s(), 5.0);
}

// kvcache_balancing_threshold: own 3000 vs best 4000 fetches at 1.25 but not at 1.5.
TEST(PolicyTest, BalancingThresholdGatesFetching) {
  Fixture f;
  std::vector<PrefillNodeState> nodes = {{0, 10.0, 4000}, {1, 0.0, 3000}};
  PolicyOptions o = With(PrefillPolicy::kGlobalCache);
  o.kvcache_balancing_threshold = 1.25;
  EXPECT_EQ(f.Make(o).PlacePrefill(k5000, nodes).fetch_from, 0);
  o.kvcache_balancing_threshold = 1.5;
  PrefillPlan p = f.Make(o).PlacePrefill(k5000, nodes);
  EXPECT_EQ(p.node, 1);
  EXPECT_EQ(p.fetch_from, -1);
  EXPECT_EQ(p.prefix_tokens, 3000);
  // An infinite threshold never fetches, even for a node holding nothing.
  o.kvcache_balancing_threshold = std::numeric_limits<double>::infinity();
  std::vector<PrefillNodeState> empty_idle = {{0, 10.0, 4000}, {1, 0.0, 0}};
  EXPECT_EQ(f.Make(o).PlacePrefill(k5000, empty_idle).fetch_from, -1);
}

// Load picks the shortest queue whatever the cache; it still uses that node's own match.
TEST(PolicyTest, LoadPicksShortestQueue) {
  Fixture f;
  Scheduler s = f.Make(With(PrefillPolicy::kLoad));
  std::vector<PrefillNodeState> nodes = {{0, 0.5, 4000}, {1, 0.2, 1000}, {2, 0.3, 0}};
  PrefillPlan p = s.PlacePrefill(k5000, nodes);
  EXPECT_EQ(p.node, 1);
  EXPECT_EQ(p.prefix_tokens, 1000);
}

// Random is reproducible for a seed and spreads over every node.
TEST(PolicyTest, RandomIsSeededAndCoversNodes) {
  Fixture f;
  std::vector<PrefillNodeState> nodes = {{0, 0, 0}, {1, 0, 0}, {2, 0, 0}, {3, 0, 0}};
  Scheduler a = f.Make(With(PrefillPolicy::kRandom));
  Scheduler b = f.Make(With(PrefillPolicy::kRandom));
  std::set<int> seen;
  for (int i = 0; i < 64; ++i) {
    const int na = a.PlacePrefill(k5000, nodes).node;
    EXPECT_EQ(na, b.PlacePrefill(k5000, nodes).node);
    seen.insert(na);
  }
  EXPECT_EQ(seen.size(), 4u);
}

// Plain rejection fires exactly when the predicted TTFT (5 s) crosses the objective.
TEST(PolicyTest, RejectionFiresExactlyAtTtftObjective) {
  Fixture f;
  PolicyOptions o = With(PrefillPolicy::kLocalCache);
  o.rejection = RejectionPolicy::kPlain;
  std::vector<PrefillNodeState> nodes = {{0, 0.0, 0}};
  std::vector<DecodeNodeState> decode = {{0, 1'000'000, {}}};
  o.ttft_slo_s = 5.0;
  auto d = f.Make(o).Schedule(k5000, nodes, decode);
  ASSERT_TRUE(d.ok());
  EXPECT_TRUE(d->accepted) << d->reject_reason;
  EXPECT_EQ(d->decided_at, f.clock.Now());
  o.ttft_slo_s = 4.999;
  d = f.Make(o).Schedule(k5000, nodes, decode);
  ASSERT_TRUE(d.ok());
  EXPECT_FALSE(d->accepted);
  EXPECT_NE(d->reject_reason.find("TTFT"), std::string::npos);
}

// Decode goes to the node with the lowest predicted TBT among those with KV memory.
TEST(PolicyTest, DecodeByLoadSkipsFullNodes) {
  Fixture f;
  Scheduler s = f.Make(With(PrefillPolicy::kLoad));
  std::vector<DecodeNodeState> nodes = {
      {0, 100'000, {{20000, 50, 0}}},  // busy
      {1, 6'000, {}},                  // idle but too small for 5010 tokens + reserve
      {2, 100'000, {{2000, 50, 0}}},   // light
  };
  nodes[1].kv_capacity_tokens = 5'000;
  DecodePlan p = s.SelectDecode(k5000, nodes, -1);
  EXPECT_EQ(p.node, 2);
  EXPECT_TRUE(p.fits);
  EXPECT_NEAR(p.predicted_tbt_s, 0.01 + 1e-5 * 7000, 1e-12);
}

// Plain TBT check sees only the current batch; the predictive one sees the batch at KV
// arrival (after 5 s of prefill): a job finishing first no longer counts, a job
// arriving first does.
TEST(PolicyTest, PredictiveRejectionUsesLoadAtKvArrival) {
  Fixture f;
  PolicyOptions o = With(PrefillPolicy::kLocalCache);
  o.tbt_slo_s = 0.1;
  std::vector<PrefillNodeState> prefill = {{0, 0.0, 0}};
  // Running job: step now 0.01 + 0.2 = 0.21 s, 5 tokens left -> done after ~1 s.
  std::vector<DecodeNodeState> finishing = {{0, 10'000'000, {{20000, 5, 0}}}};
  // Incoming job arriving in 1 s with a large context.
  std::vector<DecodeNodeState> incoming = {{0, 10'000'000, {{20000, 500, 1.0}}}};
  o.rejection = RejectionPolicy::kPlain;
  EXPECT_FALSE(f.Make(o).Schedule(k5000, prefill, finishing)->accepted);
  EXPECT_TRUE(f.Make(o).Schedule(k5000, prefill, incoming)->accepted);
  o.rejection = RejectionPolicy::kPredictive;
  EXPECT_TRUE(f.Make(o).Schedule(k5000, prefill, finishing)->accepted);
  auto d = f.Make(o).Schedule(k5000, prefill, incoming);
  EXPECT_FALSE(d->accepted);
  EXPECT_NE(d->reject_reason.find("TBT"), std::string::npos);
}

// Option validation names the bad field; defaults and infinities are valid.
TEST(PolicyTest, ValidateOptionsNamesTheField) {
  PolicyOptions o;
  EXPECT_TRUE(ValidatePolicyOptions(o).ok());
  o.kvcache_balancing_threshold = std::numeric_limits<double>::infinity();
  EXPECT_TRUE(ValidatePolicyOptions(o).ok());
  o.kvcache_balancing_threshold = 0.5;
  EXPECT_NE(std::string(ValidatePolicyOptions(o).message()).find("kvcache_balancing_threshold"),
            std::string::npos);
  o = PolicyOptions();
  o.tbt_slo_s = 0;
  EXPECT_NE(std::string(ValidatePolicyOptions(o).message()).find("tbt_slo_s"), std::string::npos);
  o = PolicyOptions();
  o.ttft_slo_s = std::nan("");
  EXPECT_FALSE(ValidatePolicyOptions(o).ok());
}

// Bad input is an error, not a decision; names parse both ways.
TEST(PolicyTest, BadInputAndNames) {
  Fixture f;
  Scheduler s = f.Make(With(PrefillPolicy::kLoad));
  EXPECT_EQ(s.Schedule(k5000, {}, {}).status().code(), absl::StatusCode::kInvalidArgument);
  std::vector<PrefillNodeState> nodes = {{0, 0, 0}};
  EXPECT_FALSE(s.Schedule({0, 1}, nodes, {}).ok());
  EXPECT_TRUE(s.Schedule(k5000, nodes, {}).ok());  // prefill-only planning is allowed
  for (const char* name : {"random", "load", "local-cache", "global-cache"}) {
    EXPECT_EQ(PrefillPolicyName(*ParsePrefillPolicy(name)), name);
  }
  EXPECT_FALSE(ParsePrefillPolicy("fastest").ok());
  EXPECT_FALSE(ParseRejectionPolicy("maybe").ok());
  EXPECT_EQ(*ParseRejectionPolicy("predictive"), RejectionPolicy::kPredictive);
}

}  // namespace
}  // namespace kvc::conductor

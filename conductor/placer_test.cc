#include "kvc/conductor/placer.h"

#include <gtest/gtest.h>

namespace kvc::conductor {
namespace {

class PlacerTest : public ::testing::Test {
 protected:
  void Add(const std::string& id, kvc::v1::NodeRole role, uint64_t blocks = 0) {
    kvc::v1::RegisterNodeRequest r;
    r.set_node_id(id);
    r.set_role(role);
    r.set_rpc_address("127.0.0.1:1");
    ASSERT_TRUE(registry_.Register(r).ok());
    kvc::v1::NodeHeartbeatRequest hb;
    hb.set_node_id(id);
    hb.mutable_load()->set_total_kv_blocks(blocks);
    hb.mutable_load()->set_free_kv_blocks(blocks);
    ASSERT_TRUE(registry_.Heartbeat(hb).ok());
  }
  PlacementInput Input(uint32_t prompt, std::vector<std::pair<std::string, uint32_t>> m = {}) {
    PlacementInput in;
    in.prompt_tokens = prompt;
    in.max_new_tokens = 16;
    in.matches = std::move(m);
    return in;
  }

  FakeClock clock_;
  membership::NodeRegistry registry_{{std::chrono::seconds(60), 500, "", 0}, clock_};
  SloStore slo_{30, 0.1};
  Placer placer_{PlacerOptions{}, registry_, slo_, clock_};
};

// The node holding the prefix wins; a prefix held only by a drained node is fetched
// from it by the node that gets the request.
TEST_F(PlacerTest, PrefixOwnOrFetched) {
  Add("p-a", kvc::v1::NODE_ROLE_PREFILL);
  Add("p-b", kvc::v1::NODE_ROLE_PREFILL);
  Add("d-1", kvc::v1::NODE_ROLE_DECODE, 1000);
  auto own = placer_.Place(Input(1600, {{"p-b", 90}}));
  ASSERT_TRUE(own.ok()) << own.status();
  EXPECT_EQ(own->prefill.node_id(), "p-b");
  EXPECT_EQ(own->prefix_blocks, 90u);
  EXPECT_EQ(own->prefix_holder, "p-b");

  ASSERT_TRUE(registry_.SetDraining("p-b", true).ok());
  auto fetched = placer_.Place(Input(1600, {{"p-b", 90}}));
  ASSERT_TRUE(fetched.ok());
  EXPECT_EQ(fetched->prefill.node_id(), "p-a");
  EXPECT_EQ(fetched->prefix_blocks, 90u);
  EXPECT_EQ(fetched->prefix_holder, "p-b");
}

// Prompt tokens in flight from this conductor count as queue: the next request goes
// to the idle node.
TEST_F(PlacerTest, InFlightPrefillSpreadsLoad) {
  Add("p-a", kvc::v1::NODE_ROLE_PREFILL);
  Add("p-b", kvc::v1::NODE_ROLE_PREFILL);
  Add("d-1", kvc::v1::NODE_ROLE_DECODE, 1000);
  EXPECT_EQ(placer_.Place(Input(100))->prefill.node_id(), "p-a");
  placer_.PrefillStarted("p-a", 5000);
  EXPECT_EQ(placer_.Place(Input(100))->prefill.node_id(), "p-b");
  placer_.PrefillEnded("p-a", 5000);
  EXPECT_EQ(placer_.Place(Input(100))->prefill.node_id(), "p-a");
}

// A node that just failed gets no new work for a while, unless it is the only one.
TEST_F(PlacerTest, SuspectNodeIsAvoidedForAWhile) {
  Add("p-a", kvc::v1::NODE_ROLE_PREFILL);
  Add("p-b", kvc::v1::NODE_ROLE_PREFILL);
  Add("d-1", kvc::v1::NODE_ROLE_DECODE, 1000);
  placer_.Suspect("p-a", std::chrono::seconds(2));
  placer_.Suspect("d-1", std::chrono::seconds(2));
  auto p = placer_.Place(Input(100));
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->prefill.node_id(), "p-b");
  EXPECT_EQ(p->decode[0].node_id(), "d-1") << "the only decode node is still used";
  clock_.Advance(std::chrono::milliseconds(2100));
  EXPECT_EQ(placer_.Place(Input(100))->prefill.node_id(), "p-a");
}

// An unreachable node is down in the membership itself (what kvcctl nodes and
// /health show), not only avoided here, and is placed on again after it heartbeats.
TEST_F(PlacerTest, UnreachableNodeIsDownInTheMembership) {
  Add("p-a", kvc::v1::NODE_ROLE_PREFILL);
  Add("d-1", kvc::v1::NODE_ROLE_DECODE, 1000);
  placer_.Unreachable("p-a", "connection refused");
  EXPECT_EQ(registry_.List()[1].state(), "down");
  auto none = placer_.Place(Input(100));
  EXPECT_EQ(ReasonOf(none.status()), "NO_NODES");
  EXPECT_NE(none.status().message().find("no prefill node is up"), std::string::npos)
      << none.status();
  kvc::v1::NodeHeartbeatRequest hb;
  hb.set_node_id("p-a");
  ASSERT_TRUE(registry_.Heartbeat(hb).ok());
  clock_.Advance(std::chrono::milliseconds(2100));  // past this conductor's own 2 s avoidance
  EXPECT_TRUE(placer_.Place(Input(100)).ok());
}

// When the only nodes left failed this very request, the error says so.
TEST_F(PlacerTest, NoOtherNodeAfterThisRequestFailed) {
  Add("p-a", kvc::v1::NODE_ROLE_PREFILL);
  Add("d-1", kvc::v1::NODE_ROLE_DECODE, 1000);
  auto in = Input(100);
  in.excluded = {"d-1"};
  auto p = placer_.Place(in);
  EXPECT_EQ(ReasonOf(p.status()), "NO_NODES");
  EXPECT_NE(p.status().message().find("no other decode node is up (1 failed this request)"),
            std::string::npos)
      << p.status();
}

// Decode room by this conductor's own accounting: NO_KV_SPACE while full,
// KV_CAPACITY when no node could ever hold the request; NO_NODES without nodes.
TEST_F(PlacerTest, DecodeRoomAndNoNodes) {
  EXPECT_EQ(ReasonOf(placer_.Place(Input(100)).status()), "NO_NODES");
  Add("p-a", kvc::v1::NODE_ROLE_PREFILL);
  EXPECT_EQ(ReasonOf(placer_.Place(Input(100)).status()), "NO_NODES");
  Add("d-1", kvc::v1::NODE_ROLE_DECODE, 10);  // 160 tokens
  ASSERT_TRUE(placer_.Place(Input(100)).ok());
  placer_.DecodeStarted("r1", "d-1", 100, 16);
  EXPECT_EQ(ReasonOf(placer_.Place(Input(100)).status()), "NO_KV_SPACE");
  EXPECT_EQ(ReasonOf(placer_.Place(Input(1000)).status()), "KV_CAPACITY");
  placer_.DecodeEnded("r1");
  EXPECT_TRUE(placer_.Place(Input(100)).ok());
}

}  // namespace
}  // namespace kvc::conductor

#include "kvc/membership/node_registry.h"

#include <gtest/gtest.h>

namespace kvc::membership {
namespace {

kvc::v1::RegisterNodeRequest Node(const std::string& id, kvc::v1::NodeRole role) {
  kvc::v1::RegisterNodeRequest r;
  r.set_node_id(id);
  r.set_role(role);
  r.set_rpc_address("127.0.0.1:1");
  return r;
}

class NodeRegistryTest : public ::testing::Test {
 protected:
  FakeClock clock_;
  NodeRegistry registry_{NodeRegistryOptions{std::chrono::seconds(3), 500, "kvc-tiny", 16}, clock_};
};

// A node stating another model id or block size is refused and changes nothing;
// a registration that states neither is accepted.
TEST_F(NodeRegistryTest, RefusesAnotherModelOrBlockSize) {
  auto other_model = Node("p1", kvc::v1::NODE_ROLE_PREFILL);
  other_model.set_model_id("llama");
  EXPECT_EQ(ReasonOf(registry_.Register(other_model)), "MODEL_MISMATCH");
  auto other_block = Node("p1", kvc::v1::NODE_ROLE_PREFILL);
  other_block.set_model_id("kvc-tiny");
  other_block.set_block_tokens(32);
  EXPECT_EQ(ReasonOf(registry_.Register(other_block)), "MODEL_MISMATCH");
  EXPECT_TRUE(registry_.List().empty());
  other_block.set_block_tokens(16);
  EXPECT_TRUE(registry_.Register(other_block).ok());
  EXPECT_TRUE(registry_.Register(Node("p2", kvc::v1::NODE_ROLE_PREFILL)).ok());
}

// Registered nodes are listed, up, and available for their role only.
TEST_F(NodeRegistryTest, RegisterListAvailable) {
  ASSERT_TRUE(registry_.Register(Node("p1", kvc::v1::NODE_ROLE_PREFILL)).ok());
  ASSERT_TRUE(registry_.Register(Node("d1", kvc::v1::NODE_ROLE_DECODE)).ok());
  auto all = registry_.List();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].node_id(), "d1");
  EXPECT_EQ(all[1].state(), "up");
  auto prefill = registry_.Available(kvc::v1::NODE_ROLE_PREFILL);
  ASSERT_EQ(prefill.size(), 1u);
  EXPECT_EQ(prefill[0].node_id(), "p1");
}

// A node silent for longer than the timeout is down and unavailable; a heartbeat revives it.
TEST_F(NodeRegistryTest, SilentNodeGoesDownAndHeartbeatRevives) {
  ASSERT_TRUE(registry_.Register(Node("p1", kvc::v1::NODE_ROLE_PREFILL)).ok());
  clock_.Advance(std::chrono::milliseconds(2900));
  EXPECT_EQ(registry_.List()[0].state(), "up");
  clock_.Advance(std::chrono::milliseconds(200));
  EXPECT_EQ(registry_.List()[0].state(), "down");
  EXPECT_TRUE(registry_.Available(kvc::v1::NODE_ROLE_PREFILL).empty());
  kvc::v1::NodeHeartbeatRequest hb;
  hb.set_node_id("p1");
  hb.mutable_load()->set_queued_requests(4);
  auto resp = registry_.Heartbeat(hb);
  ASSERT_TRUE(resp.ok());
  EXPECT_FALSE(resp->reregister());
  EXPECT_EQ(registry_.List()[0].state(), "up");
  EXPECT_EQ(registry_.List()[0].load().queued_requests(), 4u);
}

// Draining removes a node from placement but keeps it listed; the heartbeat tells it.
TEST_F(NodeRegistryTest, DrainAndUndrain) {
  ASSERT_TRUE(registry_.Register(Node("d1", kvc::v1::NODE_ROLE_DECODE)).ok());
  auto info = registry_.SetDraining("d1", true);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->state(), "draining");
  EXPECT_TRUE(registry_.Available(kvc::v1::NODE_ROLE_DECODE).empty());
  kvc::v1::NodeHeartbeatRequest hb;
  hb.set_node_id("d1");
  EXPECT_TRUE(registry_.Heartbeat(hb)->drain());
  ASSERT_TRUE(registry_.Register(Node("d1", kvc::v1::NODE_ROLE_DECODE)).ok());
  EXPECT_EQ(registry_.List()[0].state(), "draining") << "re-registering must not undrain";
  ASSERT_TRUE(registry_.SetDraining("d1", false).ok());
  EXPECT_EQ(registry_.Available(kvc::v1::NODE_ROLE_DECODE).size(), 1u);
}

// Unknown nodes: heartbeat asks to re-register; drain and deregister are NotFound.
TEST_F(NodeRegistryTest, UnknownNodes) {
  kvc::v1::NodeHeartbeatRequest hb;
  hb.set_node_id("ghost");
  EXPECT_TRUE(registry_.Heartbeat(hb)->reregister());
  EXPECT_EQ(registry_.SetDraining("ghost", true).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(registry_.Deregister("ghost").code(), absl::StatusCode::kNotFound);
  EXPECT_TRUE(registry_.List().empty()) << "bad input must change nothing";
}

// Registrations missing required fields are refused and change nothing.
TEST_F(NodeRegistryTest, BadRegistrations) {
  EXPECT_FALSE(registry_.Register(Node("", kvc::v1::NODE_ROLE_PREFILL)).ok());
  EXPECT_FALSE(registry_.Register(Node("x", kvc::v1::NODE_ROLE_UNSPECIFIED)).ok());
  auto no_addr = Node("y", kvc::v1::NODE_ROLE_PREFILL);
  no_addr.clear_rpc_address();
  EXPECT_FALSE(registry_.Register(no_addr).ok());
  EXPECT_TRUE(registry_.List().empty());
}

// A node a conductor could not reach is down at once, for everyone reading this
// registry, with the reason; its next heartbeat brings it back.
TEST_F(NodeRegistryTest, UnreachableUntilNextHeartbeat) {
  ASSERT_TRUE(registry_.Register(Node("p1", kvc::v1::NODE_ROLE_PREFILL)).ok());
  auto found = registry_.MarkUnreachable("p1", "connection refused");
  ASSERT_TRUE(found.ok());
  EXPECT_TRUE(*found);
  EXPECT_EQ(registry_.List()[0].state(), "down");
  EXPECT_NE(registry_.List()[0].state_reason().find("connection refused"), std::string::npos);
  EXPECT_TRUE(registry_.Available(kvc::v1::NODE_ROLE_PREFILL).empty());
  kvc::v1::NodeHeartbeatRequest hb;
  hb.set_node_id("p1");
  ASSERT_TRUE(registry_.Heartbeat(hb).ok());
  EXPECT_EQ(registry_.List()[0].state(), "up");
  EXPECT_TRUE(registry_.List()[0].state_reason().empty());
  auto ghost = registry_.MarkUnreachable("ghost", "x");
  ASSERT_TRUE(ghost.ok());
  EXPECT_FALSE(*ghost);
  EXPECT_EQ(registry_.List().size(), 1u) << "an unknown node is not added";
}

// A node that drains itself (SIGTERM) is draining while its heartbeats say so; a
// registration that says draining (a new master) keeps it out of placement.
TEST_F(NodeRegistryTest, SelfDrainAndDrainCarriedByRegistration) {
  ASSERT_TRUE(registry_.Register(Node("d1", kvc::v1::NODE_ROLE_DECODE)).ok());
  kvc::v1::NodeHeartbeatRequest hb;
  hb.set_node_id("d1");
  hb.set_draining(true);
  ASSERT_TRUE(registry_.Heartbeat(hb).ok());
  EXPECT_EQ(registry_.List()[0].state(), "draining");
  EXPECT_TRUE(registry_.Available(kvc::v1::NODE_ROLE_DECODE).empty());
  auto r = Node("d2", kvc::v1::NODE_ROLE_DECODE);
  r.set_draining(true);
  ASSERT_TRUE(registry_.Register(r).ok());
  EXPECT_EQ(registry_.List()[1].state(), "draining");
  kvc::v1::NodeHeartbeatRequest hb2;
  hb2.set_node_id("d2");
  EXPECT_TRUE(registry_.Heartbeat(hb2)->drain()) << "the operator drain survives the move";
}

// ListMembers carries the timeout and says `settling` for one timeout after StartSettling.
TEST_F(NodeRegistryTest, SettlingForOneTimeout) {
  auto before = registry_.ListMembers();
  ASSERT_TRUE(before.ok());
  EXPECT_FALSE(before->settling());
  EXPECT_EQ(before->heartbeat_timeout_ms(), 3000u);
  registry_.StartSettling();
  EXPECT_TRUE(registry_.ListMembers()->settling());
  clock_.Advance(std::chrono::milliseconds(2999));
  EXPECT_TRUE(registry_.ListMembers()->settling());
  clock_.Advance(std::chrono::milliseconds(2));
  EXPECT_FALSE(registry_.ListMembers()->settling());
}

}  // namespace
}  // namespace kvc::membership

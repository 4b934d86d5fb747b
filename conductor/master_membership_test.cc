// MasterMembership against a real NodeRegistry gRPC service on loopback (the
// master's side of the membership, in process): the view follows the master,
// unreachable reports reach it, drains and forwarded registrations go through it,
// mismatched nodes are never available, and a replaced master that is settling
// does not make nodes vanish.
#include "kvc/conductor/master_membership.h"

#include <gtest/gtest.h>

#include <functional>
#include <thread>

#include "kvc/membership/registry_service.h"
#include "kvc/rpc/server.h"

namespace kvc::conductor {
namespace {

using std::chrono::milliseconds;

// Polls `done` every 5 ms for at most 5 s.
bool Eventually(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return done();
}

v1::RegisterNodeRequest Node(const std::string& id, v1::NodeRole role,
                             const std::string& model = "kvc-tiny") {
  v1::RegisterNodeRequest r;
  r.set_node_id(id);
  r.set_role(role);
  r.set_rpc_address("127.0.0.1:1");
  r.set_model_id(model);
  r.set_block_tokens(16);
  return r;
}

std::string StateIn(const membership::MembershipView& view, const std::string& id) {
  for (const auto& n : view.List()) {
    if (n.node_id() == id) return n.state();
  }
  return "";
}

// One "master": a registry on a fake clock behind the gRPC service.
struct FakeMaster {
  FakeMaster() : registry({std::chrono::seconds(3), 100, "", 0}, clock), service(registry, "tok") {
    ServerOptions o;
    o.listen_address = "127.0.0.1:0";
    server = *RunningServer::Start("master", o, {&service});
  }
  FakeClock clock;
  membership::NodeRegistry registry;
  membership::RegistryService service;
  std::unique_ptr<RunningServer> server;
};

class MasterMembershipTest : public ::testing::Test {
 protected:
  void SetUp() override {
    master_ = std::make_unique<FakeMaster>();
    address_ = master_->server->address();
    MasterMembershipOptions o;
    o.resolve = [this]() -> StatusOr<std::string> {
      std::lock_guard lock(mu_);
      return address_;
    };
    o.cluster_token = "tok";
    o.poll = milliseconds(20);
    o.model_id = "kvc-tiny";
    o.block_tokens = 16;
    o.reporter = "c-test";
    view_ = std::make_unique<MasterMembership>(std::move(o), Clock::Real());
    view_->Start();
  }

  std::mutex mu_;
  std::string address_;
  std::unique_ptr<FakeMaster> master_;
  std::unique_ptr<MasterMembership> view_;
};

// Nodes registered at the master appear in the view with their state.
TEST_F(MasterMembershipTest, FollowsTheMaster) {
  ASSERT_TRUE(master_->registry.Register(Node("p1", v1::NODE_ROLE_PREFILL)).ok());
  ASSERT_TRUE(Eventually([&] { return StateIn(*view_, "p1") == "up"; }));
  EXPECT_TRUE(view_->synced());
  ASSERT_TRUE(master_->registry.Deregister("p1").ok());
  EXPECT_TRUE(Eventually([&] { return StateIn(*view_, "p1").empty(); }));
}

// An unreachable report: down in the view at once, then at the master too, until
// the node heartbeats again.
TEST_F(MasterMembershipTest, UnreachableReachesTheMaster) {
  ASSERT_TRUE(master_->registry.Register(Node("d1", v1::NODE_ROLE_DECODE)).ok());
  ASSERT_TRUE(Eventually([&] { return StateIn(*view_, "d1") == "up"; }));
  view_->ReportUnreachable("d1", "connection refused");
  EXPECT_EQ(StateIn(*view_, "d1"), "down") << "at once, before any RPC";
  EXPECT_TRUE(view_->Available(v1::NODE_ROLE_DECODE).empty());
  ASSERT_TRUE(Eventually([&] { return StateIn(master_->registry, "d1") == "down"; }));
  v1::NodeHeartbeatRequest hb;
  hb.set_node_id("d1");
  ASSERT_TRUE(master_->registry.Heartbeat(hb).ok());
  EXPECT_TRUE(Eventually([&] { return StateIn(*view_, "d1") == "up"; }));
}

// A drain through the view is the master's; the answer shows at once.
TEST_F(MasterMembershipTest, DrainGoesThroughTheMaster) {
  ASSERT_TRUE(master_->registry.Register(Node("d1", v1::NODE_ROLE_DECODE)).ok());
  ASSERT_TRUE(Eventually([&] { return StateIn(*view_, "d1") == "up"; }));
  auto info = view_->SetDraining("d1", true);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->state(), "draining");
  EXPECT_EQ(StateIn(*view_, "d1"), "draining");
  EXPECT_EQ(StateIn(master_->registry, "d1"), "draining");
  EXPECT_EQ(view_->SetDraining("ghost", true).status().code(), absl::StatusCode::kNotFound);
}

// A node of another model is listed as "mismatch" and never available; a forwarded
// registration of one is refused before it reaches the master.
TEST_F(MasterMembershipTest, MismatchedNodesAreNeverAvailable) {
  ASSERT_TRUE(master_->registry.Register(Node("p-llama", v1::NODE_ROLE_PREFILL, "llama")).ok());
  ASSERT_TRUE(Eventually([&] { return StateIn(*view_, "p-llama") == "mismatch"; }));
  EXPECT_TRUE(view_->Available(v1::NODE_ROLE_PREFILL).empty());
  EXPECT_EQ(ReasonOf(view_->Register(Node("p-other", v1::NODE_ROLE_PREFILL, "other"))),
            "MODEL_MISMATCH");
  EXPECT_EQ(StateIn(master_->registry, "p-other"), "") << "refused: nothing reached the master";
  ASSERT_TRUE(view_->Register(Node("p-ok", v1::NODE_ROLE_PREFILL)).ok());
  EXPECT_EQ(StateIn(master_->registry, "p-ok"), "up") << "forwarded";
}

// A new master that is settling: nodes it has not heard from yet keep their entry;
// once it stops settling, only the re-registered ones remain. While no master
// answers at all, the last view stays.
TEST_F(MasterMembershipTest, ReplacedMasterSettles) {
  ASSERT_TRUE(master_->registry.Register(Node("p1", v1::NODE_ROLE_PREFILL)).ok());
  ASSERT_TRUE(master_->registry.Register(Node("d1", v1::NODE_ROLE_DECODE)).ok());
  ASSERT_TRUE(Eventually([&] { return view_->List().size() == 2; }));
  master_->server->Shutdown(0);
  const uint64_t polls = view_->polls();
  ASSERT_TRUE(Eventually([&] { return view_->polls() > polls + 3; }));
  EXPECT_EQ(view_->List().size(), 2u) << "no master answers: the last view stays";

  auto next = std::make_unique<FakeMaster>();
  next->registry.StartSettling();
  ASSERT_TRUE(next->registry.Register(Node("p1", v1::NODE_ROLE_PREFILL)).ok());
  {
    std::lock_guard lock(mu_);
    address_ = next->server->address();
  }
  const uint64_t before = view_->polls();
  ASSERT_TRUE(Eventually([&] { return view_->polls() > before + 3; }));
  EXPECT_EQ(StateIn(*view_, "d1"), "up") << "settling: d1 may still re-register";
  next->clock.Advance(std::chrono::seconds(4));  // settling over; d1 never came back
  EXPECT_TRUE(Eventually([&] { return StateIn(*view_, "d1").empty(); }));
  EXPECT_EQ(StateIn(*view_, "p1"), "down") << "the fake clock moved past its heartbeat timeout";
  master_ = std::move(next);
}

}  // namespace
}  // namespace kvc::conductor

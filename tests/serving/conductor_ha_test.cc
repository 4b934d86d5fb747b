// Conductor HA and shared membership with real processes on loopback: workers
// register with kvc-master, two conductors read the same membership and both
// serve; killing one conductor leaves the other serving; a node that cannot be
// reached is down in every view at once; SIGTERM drains a conductor and a decode
// worker without cutting a running stream; with etcd, killing the master leader
// moves the membership to the new leader.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <atomic>
#include <nlohmann/json.hpp>
#include <thread>

#include "kvc/rpc/auth.h"
#include "kvc/rpc/client.h"
#include "kvc/rpc/health_service.h"
#include "kvc/v1/admin.grpc.pb.h"
#include "kvc/v1/node.grpc.pb.h"
#include "tests/serving/local_cluster.h"
#include "tests/serving/sse_client.h"
#include "tests/store/etcd_cluster.h"
#include "tests/support/http_client.h"
#include "tests/support/subprocess.h"

namespace kvc {
namespace {

using std::chrono::milliseconds;
using Steady = std::chrono::steady_clock;
using testing::Subprocess;

constexpr const char* kToken = "clu";
constexpr const char* kPrompt = "Write a very long poem about the sea, the wind and the stars.";

int64_t MsSince(Steady::time_point t) {
  return std::chrono::duration_cast<milliseconds>(Steady::now() - t).count();
}

struct Conductor {
  std::unique_ptr<Subprocess> proc;
  std::string address;  // gRPC
  int http_port = 0;
  std::string log;
};

// A master (or etcd + masters), conductors and workers as separate processes.
class HaCluster {
 public:
  // Without etcd: one kvc-master. Heartbeat timeout `timeout_ms`. `port` 0 =
  // ephemeral (RestartMaster reuses the port the first start got).
  void StartMaster(int timeout_ms = 1000, int port_wanted = 0) {
    const std::string port_file = dir_.path() + "/master.port";
    std::remove(port_file.c_str());
    master_ = std::make_unique<Subprocess>(
        std::vector<std::string>{testing::BinDir() + "/kvc-master", "--listen-address",
                                 "127.0.0.1:" + std::to_string(port_wanted), "--port-file",
                                 port_file, "--cluster-token", kToken,
                                 "--membership-heartbeat-interval-ms", "100",
                                 "--membership-heartbeat-timeout-ms", std::to_string(timeout_ms)},
        dir_.path() + "/master.log");
    const int port = testing::WaitForPortFile(port_file, milliseconds(10000));
    ASSERT_GT(port, 0) << testing::ReadFile(dir_.path() + "/master.log");
    master_port_ = port;
    master_flags_ = {"--master-address", "127.0.0.1:" + std::to_string(port)};
  }
  // kill -9 of the single master, then a fresh one on the same address: all its
  // state (pool metadata, membership) is gone and must be rebuilt by the nodes.
  void RestartMaster(int timeout_ms = 1000) {
    master_->Signal(SIGKILL);
    ASSERT_TRUE(master_->WaitFor(milliseconds(5000)).has_value());
    StartMaster(timeout_ms, master_port_);
  }
  // etcd mode: the flags every process gets to find the leader.
  void UseEtcd(const std::string& client_url) {
    master_flags_ = {"--master-address", "", "--etcd-endpoints", client_url};
  }

  Conductor& StartConductor(const std::string& name, std::vector<std::string> extra = {}) {
    Conductor c;
    c.log = dir_.path() + "/" + name + ".log";
    std::vector<std::string> argv = {testing::BinDir() + "/kvc-conductor",
                                     "--listen-address",
                                     "127.0.0.1:0",
                                     "--port-file",
                                     dir_.path() + "/" + name + ".grpc",
                                     "--http-port",
                                     "0",
                                     "--http-port-file",
                                     dir_.path() + "/" + name + ".http",
                                     "--cluster-token",
                                     kToken,
                                     "--node-id",
                                     name,
                                     "--membership-poll-ms",
                                     "100"};
    argv.insert(argv.end(), master_flags_.begin(), master_flags_.end());
    argv.insert(argv.end(), extra.begin(), extra.end());
    c.proc = std::make_unique<Subprocess>(argv, c.log);
    const int grpc =
        testing::WaitForPortFile(dir_.path() + "/" + name + ".grpc", milliseconds(10000));
    c.http_port = testing::WaitForPortFile(dir_.path() + "/" + name + ".http", milliseconds(10000));
    EXPECT_GT(grpc, 0) << testing::ReadFile(c.log);
    c.address = "127.0.0.1:" + std::to_string(grpc);
    conductors_[name] = std::move(c);
    return conductors_[name];
  }

  void StartWorker(const std::string& binary, const std::string& id,
                   std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {testing::BinDir() + "/" + binary,
                                     "--listen-address",
                                     "127.0.0.1:0",
                                     "--node-id",
                                     id,
                                     "--cluster-token",
                                     kToken,
                                     "--engine-backend",
                                     "sim",
                                     "--engine-threads",
                                     "1",
                                     "--store-dram-bytes",
                                     std::to_string(32 << 20)};
    argv.insert(argv.end(), master_flags_.begin(), master_flags_.end());
    argv.insert(argv.end(), extra.begin(), extra.end());
    workers_[id] = std::make_unique<Subprocess>(argv, dir_.path() + "/" + id + ".log");
  }

  // node id -> NodeInfo as conductor `name` lists it (empty when it does not answer).
  std::map<std::string, v1::NodeInfo> Nodes(const std::string& name) {
    auto stub = v1::Admin::NewStub(MakeChannel(conductors_.at(name).address));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + milliseconds(2000));
    v1::ListNodesResponse resp;
    std::map<std::string, v1::NodeInfo> out;
    if (!stub->ListNodes(&ctx, {}, &resp).ok()) return out;
    for (const auto& n : resp.nodes()) out[n.node_id()] = n;
    return out;
  }
  std::string State(const std::string& name, const std::string& id) {
    auto nodes = Nodes(name);
    return nodes.count(id) ? nodes[id].state() : "";
  }
  // Polls until conductor `name` shows `id` in `state` ("" = absent).
  bool WaitForState(const std::string& name, const std::string& id, const std::string& state,
                    milliseconds timeout = milliseconds(15000)) {
    const auto deadline = Steady::now() + timeout;
    while (Steady::now() < deadline) {
      if (State(name, id) == state) return true;
      std::this_thread::sleep_for(milliseconds(20));
    }
    return false;
  }
  testing::HttpResponse Chat(const std::string& name, int max_tokens = 4) {
    return testing::HttpRequest(conductors_.at(name).http_port, "POST", "/v1/chat/completions",
                                testing::ChatBody("hello there", max_tokens, false), {},
                                milliseconds(20000));
  }
  std::string Logs() {
    std::string out = "--- master ---\n" + testing::ReadFile(dir_.path() + "/master.log");
    for (const auto& [n, c] : conductors_) out += "--- " + n + " ---\n" + testing::ReadFile(c.log);
    for (const auto& [id, w] : workers_) {
      out += "--- " + id + " ---\n" + testing::ReadFile(dir_.path() + "/" + id + ".log");
    }
    return out;
  }

  testing::TempDir dir_;
  std::unique_ptr<Subprocess> master_;
  int master_port_ = 0;
  std::vector<std::string> master_flags_;
  std::map<std::string, Conductor> conductors_;
  std::map<std::string, std::unique_ptr<Subprocess>> workers_;
};

bool ExitedZero(Subprocess& p, milliseconds timeout) {
  auto status = p.WaitFor(timeout);
  return status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0;
}

class ConductorHaTest : public ::testing::Test {
 protected:
  // Master, conductors c0 and c1, one prefill and one decode worker, all up.
  void StartAll(int heartbeat_timeout_ms = 1000) {
    ASSERT_NO_FATAL_FAILURE(c_.StartMaster(heartbeat_timeout_ms));
    c_.StartConductor("c0");
    c_.StartConductor("c1");
    c_.StartWorker("kvc-prefill", "prefill-a");
    c_.StartWorker("kvc-decode", "decode-a");
    for (const char* n : {"c0", "c1"}) {
      for (const char* id : {"prefill-a", "decode-a"}) {
        ASSERT_TRUE(c_.WaitForState(n, id, "up")) << n << " " << id << "\n" << c_.Logs();
      }
    }
  }
  HaCluster c_;
};

// Two conductors sharing one master both list every worker and both serve; an
// operator drain through one conductor is seen by the other.
TEST_F(ConductorHaTest, TwoConductorsShareOneMaster) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  for (const char* n : {"c0", "c1"}) {
    auto r = c_.Chat(n);
    EXPECT_EQ(r.status, 200) << n << ": " << r.body;
    EXPECT_FALSE(nlohmann::json::parse(r.body)["choices"][0]["message"]["content"]
                     .get<std::string>()
                     .empty());
  }
  auto admin = v1::Admin::NewStub(MakeChannel(c_.conductors_["c0"].address));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + milliseconds(3000));
  v1::DrainNodeRequest req;
  req.set_node_id("decode-a");
  v1::DrainNodeResponse resp;
  ASSERT_TRUE(admin->DrainNode(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.node().state(), "draining");
  EXPECT_TRUE(c_.WaitForState("c1", "decode-a", "draining", milliseconds(3000)))
      << "a drain is shared through the master";
  EXPECT_EQ(c_.Chat("c1").status, 503) << "no decode node may take new work";
  grpc::ClientContext ctx2;
  ctx2.set_deadline(std::chrono::system_clock::now() + milliseconds(3000));
  ASSERT_TRUE(admin->UndrainNode(&ctx2, req, &resp).ok());
  EXPECT_TRUE(c_.WaitForState("c1", "decode-a", "up", milliseconds(3000)));
}

// kill -9 of one conductor: the other keeps serving with the same nodes; a
// restarted conductor sees them at its first membership read.
TEST_F(ConductorHaTest, KilledConductorLosesOnlyItself) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  c_.conductors_["c0"].proc->Signal(SIGKILL);
  c_.conductors_["c0"].proc->WaitFor(milliseconds(3000));
  for (int i = 0; i < 3; ++i) {
    auto r = c_.Chat("c1");
    EXPECT_EQ(r.status, 200) << r.body;
  }
  EXPECT_EQ(c_.State("c1", "prefill-a"), "up");
  const auto start = Steady::now();
  c_.StartConductor("c2");
  ASSERT_TRUE(c_.WaitForState("c2", "decode-a", "up", milliseconds(5000))) << c_.Logs();
  ASSERT_TRUE(c_.WaitForState("c2", "prefill-a", "up", milliseconds(5000)));
  std::printf("restarted conductor lists every node %lld ms after its start\n",
              static_cast<long long>(MsSince(start)));
  EXPECT_EQ(c_.Chat("c2").status, 200);
}

// A prefill node killed with SIGKILL: the first request that cannot reach it marks
// it down in that conductor's every view at once (kvcctl nodes, /health, /metrics)
// and, through the master, in the other conductor's — long before the 10 s
// heartbeat timeout. Restarted with the same id, it is up again.
TEST_F(ConductorHaTest, UnreachableNodeIsDownEverywhereAtOnce) {
  ASSERT_NO_FATAL_FAILURE(StartAll(/*heartbeat_timeout_ms=*/10000));
  c_.workers_["prefill-a"]->Signal(SIGKILL);
  c_.workers_["prefill-a"]->WaitFor(milliseconds(3000));
  const auto killed = Steady::now();
  auto r = c_.Chat("c0");
  EXPECT_EQ(r.status, 503) << r.body;
  auto nodes = c_.Nodes("c0");
  EXPECT_EQ(nodes["prefill-a"].state(), "down") << "right after the failed request";
  EXPECT_NE(nodes["prefill-a"].state_reason().find("unreachable"), std::string::npos)
      << nodes["prefill-a"].state_reason();
  auto health = testing::HttpRequest(c_.conductors_["c0"].http_port, "GET", "/health");
  EXPECT_EQ(nlohmann::json::parse(health.body)["prefill_nodes_up"], 0) << health.body;
  auto metrics = testing::HttpRequest(c_.conductors_["c0"].http_port, "GET", "/metrics");
  EXPECT_NE(metrics.body.find("kvc_conductor_node_up{node=\"prefill-a\",role=\"prefill\"} 0"),
            std::string::npos);
  ASSERT_TRUE(c_.WaitForState("c1", "prefill-a", "down", milliseconds(3000)));
  const auto seen_ms = MsSince(killed);
  std::printf("killed prefill node down at the other conductor %lld ms after the kill\n",
              static_cast<long long>(seen_ms));
  EXPECT_LT(seen_ms, 5000) << "must not wait for the 10 s heartbeat timeout";
  EXPECT_EQ(c_.Chat("c1").status, 503) << "the other conductor does not try it either";
  c_.StartWorker("kvc-prefill", "prefill-a");
  ASSERT_TRUE(c_.WaitForState("c1", "prefill-a", "up")) << c_.Logs();
  EXPECT_EQ(c_.Chat("c1").status, 200);
}

// SIGTERM on a conductor with a stream running: health NOT_SERVING, /health 503
// "draining", new requests 503 shutting_down, the running stream ends normally,
// the process exits 0; the other conductor serves throughout.
TEST_F(ConductorHaTest, ConductorSigtermDrainsRunningStream) {
  ASSERT_NO_FATAL_FAILURE(c_.StartMaster());
  Conductor& c0 = c_.StartConductor("c0", {"--drain-timeout-ms", "30000"});
  c_.StartConductor("c1");
  c_.StartWorker("kvc-prefill", "prefill-a");
  c_.StartWorker("kvc-decode", "decode-a");
  for (const char* id : {"prefill-a", "decode-a"}) ASSERT_TRUE(c_.WaitForState("c0", id, "up"));
  for (const char* id : {"prefill-a", "decode-a"}) ASSERT_TRUE(c_.WaitForState("c1", id, "up"));
  std::thread checks;
  int health_status = 0, new_status = 0, other_status = 0;
  std::string health_body, new_body, grpc_health, other_body;
  std::atomic<int64_t> draining_at{0};  // steady ns when /health first said 503
  int64_t last_event_at = 0;
  auto now_ns = [] { return Steady::now().time_since_epoch().count(); };
  auto stream = testing::PostSse(
      c0.http_port, "/v1/chat/completions",
      testing::ChatBody(kPrompt, 120, true, R"({"ignore_eos": true})"),
      [&](const std::string&) {
        last_event_at = now_ns();
        if (!checks.joinable()) {
          c0.proc->Signal(SIGTERM);
          checks = std::thread([&] {
            // The drain begins once the signal is handled: poll for it, bounded.
            for (int i = 0; i < 100 && health_status != 503; ++i) {
              auto h = testing::HttpRequest(c0.http_port, "GET", "/health");
              health_status = h.status;
              health_body = h.body;
              if (health_status == 503) draining_at = now_ns();
              if (health_status != 503) std::this_thread::sleep_for(milliseconds(20));
            }
            auto g = CheckHealth(c0.address, milliseconds(2000));
            grpc_health = g.ok() ? *g : std::string(g.status().message());
            auto n = testing::HttpRequest(c0.http_port, "POST", "/v1/chat/completions",
                                          testing::ChatBody("hi", 4, false));
            new_status = n.status;
            new_body = n.body;
            auto o = c_.Chat("c1");
            other_status = o.status;
            other_body = o.body;
          });
        }
        return true;
      },
      milliseconds(60000));
  if (checks.joinable()) checks.join();
  EXPECT_EQ(stream.status, 200);
  ASSERT_FALSE(stream.events.empty());
  EXPECT_FALSE(testing::HasErrorEvent(stream.events)) << stream.events.back();
  EXPECT_EQ(stream.events.back(), "[DONE]") << "the running stream finished";
  EXPECT_GT(draining_at.load(), 0);
  EXPECT_GT(last_event_at, draining_at.load()) << "the stream was still running during the drain";
  EXPECT_EQ(health_status, 503) << health_body;
  EXPECT_NE(health_body.find("\"draining\""), std::string::npos) << health_body;
  EXPECT_NE(health_body.find("draining"), std::string::npos);
  EXPECT_EQ(grpc_health, "NOT_SERVING");
  EXPECT_EQ(new_status, 503) << new_body;
  EXPECT_NE(new_body.find("shutting_down"), std::string::npos) << new_body;
  EXPECT_EQ(other_status, 200) << other_body;
  EXPECT_TRUE(ExitedZero(*c0.proc, milliseconds(10000))) << testing::ReadFile(c0.log);
}

// SIGTERM on the decode worker mid-stream: it shows "draining" in the membership,
// finishes the stream, deregisters and exits 0.
TEST_F(ConductorHaTest, WorkerSigtermDrainsRunningStream) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  bool signalled = false, saw_draining = false;
  auto stream = testing::PostSse(
      c_.conductors_["c0"].http_port, "/v1/chat/completions",
      testing::ChatBody(kPrompt, 120, true, R"({"ignore_eos": true})"),
      [&](const std::string&) {
        if (!signalled) {
          signalled = true;
          c_.workers_["decode-a"]->Signal(SIGTERM);
        } else if (!saw_draining) {
          saw_draining = c_.State("c1", "decode-a") == "draining";
        }
        return true;
      },
      milliseconds(60000));
  EXPECT_EQ(stream.status, 200);
  ASSERT_FALSE(stream.events.empty());
  EXPECT_FALSE(testing::HasErrorEvent(stream.events)) << stream.events.back();
  EXPECT_EQ(stream.events.back(), "[DONE]");
  EXPECT_TRUE(saw_draining) << "the other conductor saw the drain while the stream ran";
  EXPECT_TRUE(ExitedZero(*c_.workers_["decode-a"], milliseconds(10000)));
  EXPECT_TRUE(c_.WaitForState("c1", "decode-a", "", milliseconds(3000))) << "deregistered";
}

// A worker with only the legacy --conductor-address (no master of its own) joins
// through that conductor, which forwards to the master: the other conductor sees it.
TEST_F(ConductorHaTest, LegacyConductorAddressIsForwarded) {
  ASSERT_NO_FATAL_FAILURE(c_.StartMaster());
  c_.StartConductor("c0");
  c_.StartConductor("c1");
  const std::string via = c_.conductors_["c0"].address;
  auto flags = c_.master_flags_;
  c_.master_flags_ = {"--master-address", "", "--conductor-address", via};
  c_.StartWorker("kvc-decode", "decode-legacy");
  c_.master_flags_ = flags;
  EXPECT_TRUE(c_.WaitForState("c1", "decode-legacy", "up")) << c_.Logs();
}

// kvcctl lookup --chat tokenizes like /v1/chat/completions: after a chat request,
// its prompt matches blocks in the pool; as --text (a completion prompt) it does not.
TEST_F(ConductorHaTest, LookupChatMatchesChatPrompts) {
  ASSERT_NO_FATAL_FAILURE(StartAll());
  auto r = testing::HttpRequest(c_.conductors_["c0"].http_port, "POST", "/v1/chat/completions",
                                testing::ChatBody(kPrompt, 2, false), {}, milliseconds(20000));
  ASSERT_EQ(r.status, 200) << r.body;
  auto lookup = [&](const std::string& form) {
    const std::string out = c_.dir_.path() + "/lookup.json";
    Subprocess p({testing::BinDir() + "/kvcctl", "--target", c_.conductors_["c1"].address, "--json",
                  "lookup", form, kPrompt},
                 out);
    p.WaitFor(milliseconds(10000));
    uint32_t best = 0;
    auto j = nlohmann::json::parse(testing::ReadFile(out), nullptr, false);
    if (j.is_discarded()) return best;
    for (const auto& m : j["matches"]) best = std::max(best, m["matched_blocks"].get<uint32_t>());
    return best;
  };
  uint32_t chat = 0;
  for (int i = 0; i < 100 && chat == 0; ++i) {  // the prefill node stores blocks in the background
    chat = lookup("--chat");
    if (chat == 0) std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_GT(chat, 0u);
  EXPECT_EQ(lookup("--text"), 0u) << "a completion prompt is tokenized differently";
}

// Without etcd the single master holds the membership in memory only: after a
// kill -9 and a restart on the same address it knows nobody, the workers
// re-register (their heartbeats are answered "reregister" or fail until it is
// back), the conductor's view fills again and requests are served.
TEST(ConductorHaRestartTest, MasterRestartWithoutEtcdRebuildsTheMembership) {
  HaCluster c;
  ASSERT_NO_FATAL_FAILURE(c.StartMaster());
  c.StartConductor("c0");
  c.StartWorker("kvc-prefill", "prefill-a");
  c.StartWorker("kvc-decode", "decode-a");
  for (const char* id : {"prefill-a", "decode-a"}) {
    ASSERT_TRUE(c.WaitForState("c0", id, "up")) << c.Logs();
  }
  ASSERT_EQ(c.Chat("c0").status, 200);

  const auto killed = Steady::now();
  ASSERT_NO_FATAL_FAILURE(c.RestartMaster());
  const auto restarted_ms = MsSince(killed);
  // The new master starts empty: ask it directly until both workers are back.
  auto stub = v1::NodeRegistry::NewStub(MakeChannel("127.0.0.1:" + std::to_string(c.master_port_)));
  size_t registered = 0;
  while (MsSince(killed) < 20000 && registered < 2) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + milliseconds(1000));
    AddBearerToken(&ctx, kToken);
    v1::ListMembersResponse resp;
    registered = 0;
    if (stub->ListMembers(&ctx, {}, &resp).ok()) {
      for (const auto& n : resp.nodes()) registered += n.state() == "up";
    }
    if (registered < 2) std::this_thread::sleep_for(milliseconds(50));
  }
  const auto rejoined_ms = MsSince(killed);
  ASSERT_EQ(registered, 2u) << c.Logs();
  int status = 0;
  while (MsSince(killed) < 25000 && (status = c.Chat("c0").status) != 200) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_EQ(status, 200) << c.Logs();
  for (const char* id : {"prefill-a", "decode-a"}) EXPECT_EQ(c.State("c0", id), "up");
  std::printf(
      "single master killed and restarted in %lld ms: both workers re-registered after %lld ms, "
      "serving after %lld ms\n",
      static_cast<long long>(restarted_ms), static_cast<long long>(rejoined_ms),
      static_cast<long long>(MsSince(killed)));
}

// etcd mode: two masters, a conductor and workers find the leader in etcd. After
// kill -9 of the leader the workers register with the new leader and the conductor
// reads it; requests are served again.
TEST(ConductorHaEtcdTest, MembershipFollowsTheMasterLeader) {
  if (!store::testing::HaveEtcd()) GTEST_SKIP() << "etcd is not installed (/usr/bin/etcd)";
  store::testing::EtcdCluster etcd;
  ASSERT_TRUE(etcd.WaitUp());
  const std::vector<std::string> flags = {"--cluster-token",
                                          kToken,
                                          "--membership-heartbeat-interval-ms",
                                          "100",
                                          "--membership-heartbeat-timeout-ms",
                                          "1000",
                                          "--takeover-grace-ms",
                                          "0"};
  const std::string m0 = etcd.StartMaster(0, flags);
  ASSERT_FALSE(m0.empty());
  const std::string leader = etcd.WaitLeader("", milliseconds(10000));
  ASSERT_EQ(leader, m0);
  ASSERT_FALSE(etcd.StartMaster(1, flags).empty());
  HaCluster c;
  c.UseEtcd(etcd.client_url());
  c.StartConductor("c0");
  c.StartWorker("kvc-prefill", "prefill-a");
  c.StartWorker("kvc-decode", "decode-a");
  for (const char* id : {"prefill-a", "decode-a"}) {
    ASSERT_TRUE(c.WaitForState("c0", id, "up")) << c.Logs();
  }
  ASSERT_EQ(c.Chat("c0").status, 200);

  const auto killed = Steady::now();
  etcd.KillMaster(leader);
  const std::string next = etcd.WaitLeader(leader, milliseconds(15000));
  ASSERT_FALSE(next.empty()) << "no new leader";
  const auto elected_ms = MsSince(killed);
  // Both workers registered at the new leader (asked directly, not through the view).
  auto stub = v1::NodeRegistry::NewStub(MakeChannel(next));
  size_t registered = 0;
  while (MsSince(killed) < 20000 && registered < 2) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + milliseconds(1000));
    AddBearerToken(&ctx, kToken);
    v1::ListMembersResponse resp;
    registered = 0;
    if (stub->ListMembers(&ctx, {}, &resp).ok()) {
      for (const auto& n : resp.nodes()) registered += n.state() == "up";
    }
    if (registered < 2) std::this_thread::sleep_for(milliseconds(50));
  }
  const auto rejoined_ms = MsSince(killed);
  ASSERT_EQ(registered, 2u) << c.Logs();
  int status = 0;
  while (MsSince(killed) < 25000 && (status = c.Chat("c0").status) != 200) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  EXPECT_EQ(status, 200);
  for (const char* id : {"prefill-a", "decode-a"}) EXPECT_EQ(c.State("c0", id), "up");
  std::printf(
      "master leader killed: new leader after %lld ms, both workers registered there after "
      "%lld ms, serving after %lld ms\n",
      static_cast<long long>(elected_ms), static_cast<long long>(rejoined_ms),
      static_cast<long long>(MsSince(killed)));
}

}  // namespace
}  // namespace kvc

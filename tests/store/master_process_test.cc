// kvc-master as a real process on loopback: the StoreMaster contract end to end,
// dead-node detection, and convergence after a master restart (nodes re-register).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include "kvc/common/status.h"
#include "kvc/rpc/auth.h"
#include "kvc/rpc/client.h"
#include "kvc/rpc/grpc_status.h"
#include "kvc/v1/store_master.grpc.pb.h"
#include "tests/support/subprocess.h"

namespace kvc {
namespace {

using std::chrono::milliseconds;
using testing::Subprocess;
using testing::TempDir;

v1::BlockKey Key(uint64_t i) {
  v1::BlockKey k;
  k.set_hi(42);
  k.set_lo(i);
  return k;
}

// One kvc-master child with its stub; restartable on the same port.
class Master {
 public:
  Master(const TempDir& dir, int port = 0, std::string token = "") : dir_(dir), token_(token) {
    Start(port);
  }
  void Start(int port) {
    const std::string port_file = dir_.path() + "/master.port";
    std::remove(port_file.c_str());
    std::vector<std::string> argv{testing::BinDir() + "/kvc-master",
                                  "--listen-address",
                                  "127.0.0.1:" + std::to_string(port),
                                  "--port-file",
                                  port_file,
                                  "--store-heartbeat-interval-ms",
                                  "100",
                                  "--store-node-timeout-ms",
                                  "800",
                                  "--tick-ms",
                                  "50"};
    if (!token_.empty()) argv.insert(argv.end(), {"--cluster-token", token_});
    proc_ = std::make_unique<Subprocess>(argv, dir_.path() + "/master.log");
    port_ = testing::WaitForPortFile(port_file, milliseconds(10000));
    ASSERT_GT(port_, 0) << testing::ReadFile(dir_.path() + "/master.log");
    stub_ = v1::StoreMaster::NewStub(MakeChannel("127.0.0.1:" + std::to_string(port_)));
  }
  void Kill() {
    proc_->Signal(SIGKILL);
    proc_->WaitFor(milliseconds(5000));
  }
  int port() const { return port_; }
  v1::StoreMaster::Stub& stub() { return *stub_; }

 private:
  const TempDir& dir_;
  const std::string token_;
  std::unique_ptr<Subprocess> proc_;
  int port_ = 0;
  std::unique_ptr<v1::StoreMaster::Stub> stub_;
};

std::unique_ptr<grpc::ClientContext> Ctx() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  return ctx;
}

Status Mount(v1::StoreMaster::Stub& stub, const std::string& node, uint64_t capacity,
             const std::string& token = "") {
  v1::MountSegmentRequest req;
  v1::SegmentInfo* s = req.mutable_segment();
  s->set_node_id(node);
  s->set_hostname("h-" + node);
  s->set_tier(v1::STORAGE_TIER_DRAM);
  s->set_capacity_bytes(capacity);
  s->set_transfer_segment(node + "-seg");
  s->set_base_address(1 << 20);
  v1::MountSegmentResponse resp;
  auto ctx = Ctx();
  if (!token.empty()) AddBearerToken(ctx.get(), token);
  return FromGrpcStatus(stub.MountSegment(ctx.get(), req, &resp));
}

StatusOr<v1::PutStartResponse> Put(v1::StoreMaster::Stub& stub, uint64_t key, uint64_t size,
                                   uint32_t replicas) {
  v1::PutStartRequest req;
  *req.mutable_key() = Key(key);
  req.set_size(size);
  req.set_replicas(replicas);
  v1::PutStartResponse resp;
  KVC_RETURN_IF_ERROR(FromGrpcStatus(stub.PutStart(Ctx().get(), req, &resp)));
  v1::PutEndRequest end;
  *end.mutable_key() = Key(key);
  v1::PutEndResponse end_resp;
  KVC_RETURN_IF_ERROR(FromGrpcStatus(stub.PutEnd(Ctx().get(), end, &end_resp)));
  return resp;
}

StatusOr<v1::GetResponse> Get(v1::StoreMaster::Stub& stub, uint64_t key) {
  v1::GetRequest req;
  *req.mutable_key() = Key(key);
  v1::GetResponse resp;
  KVC_RETURN_IF_ERROR(FromGrpcStatus(stub.Get(Ctx().get(), req, &resp)));
  return resp;
}

v1::StoreHeartbeatResponse Beat(v1::StoreMaster::Stub& stub, const std::string& node) {
  v1::StoreHeartbeatRequest req;
  req.set_node_id(node);
  v1::StoreHeartbeatResponse resp;
  EXPECT_TRUE(stub.Heartbeat(Ctx().get(), req, &resp).ok());
  return resp;
}

// Put → Get → MatchPrefix → Remove over real gRPC; errors keep their reasons.
// With a cluster token, every StoreMaster call must carry it: none or a wrong one is
// UNAUTHENTICATED and changes nothing; the right one is served.
TEST(MasterProcessTest, ClusterTokenIsRequired) {
  TempDir dir;
  Master master(dir, 0, "pool-secret");
  auto mount = [&](const std::string& token) {
    return Mount(master.stub(), "n1", 1 << 20, token).code();
  };
  auto nodes = [&] {
    auto ctx = Ctx();
    AddBearerToken(ctx.get(), "pool-secret");
    v1::GetStatsRequest req;
    v1::GetStatsResponse resp;
    EXPECT_TRUE(master.stub().GetStats(ctx.get(), req, &resp).ok());
    return resp.nodes();
  };
  EXPECT_EQ(mount(""), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(mount("wrong"), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(nodes(), 0u) << "a refused call changed nothing";
  EXPECT_EQ(mount("pool-secret"), absl::StatusCode::kOk);
  EXPECT_EQ(nodes(), 1u);
}

// --require-token: without a token the master refuses to start (exit code 2,
// naming the option); with one it serves. An open master on a non-loopback
// address refuses to start (exit 2) unless --insecure, which it announces with a
// warning; on loopback (development) it starts open, without the warning.
TEST(MasterProcessTest, RequireTokenAndSecureByDefault) {
  TempDir dir;
  const std::string bin = testing::BinDir() + "/kvc-master";
  auto start = [&](const std::string& name, std::vector<std::string> flags) {
    std::vector<std::string> argv = {bin, "--port-file", dir.path() + "/" + name + ".port"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    return std::make_unique<Subprocess>(argv, dir.path() + "/" + name + ".log");
  };
  auto log = [&](const std::string& name) {
    return testing::ReadFile(dir.path() + "/" + name + ".log");
  };
  auto port = [&](const std::string& name) {
    return testing::WaitForPortFile(dir.path() + "/" + name + ".port", milliseconds(10000));
  };
  constexpr const char* kWarning = "runs with --insecure";

  auto refused = start("refused", {"--listen-address", "127.0.0.1:0", "--require-token"});
  const std::optional<int> exit_status = refused->WaitFor(milliseconds(10000));
  ASSERT_TRUE(exit_status.has_value()) << "kvc-master --require-token without a token kept running";
  EXPECT_TRUE(WIFEXITED(*exit_status));
  EXPECT_EQ(WEXITSTATUS(*exit_status), 2);
  EXPECT_NE(log("refused").find("require_token"), std::string::npos) << log("refused");

  // Secure by default: open on a non-loopback address only with --insecure, announced.
  auto open = start("open", {"--listen-address", "0.0.0.0:0"});
  const std::optional<int> open_status = open->WaitFor(milliseconds(10000));
  ASSERT_TRUE(open_status.has_value()) << "an open master on 0.0.0.0 kept running";
  EXPECT_TRUE(WIFEXITED(*open_status) && WEXITSTATUS(*open_status) == 2) << log("open");
  EXPECT_NE(log("open").find("configuration error: cluster_token"), std::string::npos)
      << log("open");
  auto insecure = start("insecure", {"--listen-address", "0.0.0.0:0", "--insecure"});
  ASSERT_GT(port("insecure"), 0) << log("insecure");
  EXPECT_NE(log("insecure").find(kWarning), std::string::npos) << log("insecure");

  auto secured = start(
      "secured", {"--listen-address", "0.0.0.0:0", "--require-token", "--cluster-token", "s"});
  const int secured_port = port("secured");
  ASSERT_GT(secured_port, 0) << log("secured");
  EXPECT_EQ(log("secured").find(kWarning), std::string::npos) << log("secured");
  auto stub = v1::StoreMaster::NewStub(MakeChannel("127.0.0.1:" + std::to_string(secured_port)));
  EXPECT_EQ(Mount(*stub, "n1", 1 << 20).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(Mount(*stub, "n1", 1 << 20, "s").ok());

  auto dev = start("dev", {"--listen-address", "127.0.0.1:0"});
  ASSERT_GT(port("dev"), 0) << log("dev");
  EXPECT_EQ(log("dev").find(kWarning), std::string::npos) << log("dev");
}

// Without etcd, an explicit --takeover-grace-ms applies from start-up (a restarted
// master cannot tell a first start from a restart): PutStart is refused with
// UNAVAILABLE TAKEOVER_GRACE until it ends; reads are served meanwhile.
TEST(MasterProcessTest, ExplicitTakeoverGraceAppliesFromStartUp) {
  TempDir dir;
  const std::string port_file = dir.path() + "/m.port";
  const auto started = std::chrono::steady_clock::now();
  Subprocess proc({testing::BinDir() + "/kvc-master", "--listen-address", "127.0.0.1:0",
                   "--port-file", port_file, "--takeover-grace-ms", "1500"},
                  dir.path() + "/m.log");
  const int port = testing::WaitForPortFile(port_file, milliseconds(10000));
  ASSERT_GT(port, 0);
  auto stub = v1::StoreMaster::NewStub(MakeChannel("127.0.0.1:" + std::to_string(port)));
  ASSERT_TRUE(Mount(*stub, "n1", 1 << 20).ok());
  auto refused = Put(*stub, 1, 4096, 1);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ReasonOf(refused.status()), "TAKEOVER_GRACE") << refused.status();
  EXPECT_EQ(ReasonOf(Get(*stub, 1).status()), "NOT_FOUND") << "reads are served";
  StatusOr<v1::PutStartResponse> put = refused.status();
  while (!put.ok() && std::chrono::steady_clock::now() - started < std::chrono::seconds(8)) {
    ASSERT_EQ(ReasonOf(put.status()), "TAKEOVER_GRACE") << put.status();
    std::this_thread::sleep_for(milliseconds(50));
    put = Put(*stub, 1, 4096, 1);
  }
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_GE(std::chrono::steady_clock::now() - started, milliseconds(1500));
}

TEST(MasterProcessTest, PutGetMatchRemoveOverGrpc) {
  TempDir dir;
  Master m(dir);
  ASSERT_TRUE(Mount(m.stub(), "n1", 1 << 20).ok());
  auto put = Put(m.stub(), 1, 4096, 1);
  ASSERT_TRUE(put.ok()) << put.status();
  ASSERT_EQ(put->replicas_size(), 1);
  EXPECT_GE(put->replicas(0).location().offset(), 1u << 20);  // transfer address, base added
  EXPECT_EQ(put->replicas(0).location().segment_name(), "n1-seg");
  auto got = Get(m.stub(), 1);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->size(), 4096u);
  EXPECT_GT(got->lease_expires_unix_ms(), 0);
  EXPECT_EQ(ReasonOf(Get(m.stub(), 2).status()), "NOT_FOUND");
  EXPECT_EQ(ReasonOf(Put(m.stub(), 3, 0, 1).status()), "BAD_SIZE");
  EXPECT_EQ(ReasonOf(Put(m.stub(), 1, 10, 1).status()), "OBJECT_EXISTS");

  v1::MatchPrefixRequest match;
  *match.add_keys() = Key(1);
  *match.add_keys() = Key(2);
  v1::MatchPrefixResponse match_resp;
  ASSERT_TRUE(m.stub().MatchPrefix(Ctx().get(), match, &match_resp).ok());
  EXPECT_EQ(match_resp.best_node_id(), "n1");
  EXPECT_EQ(match_resp.best_matched_blocks(), 1u);

  v1::RemoveRequest rm;
  *rm.mutable_key() = Key(1);
  v1::RemoveResponse rm_resp;
  EXPECT_EQ(ReasonOf(FromGrpcStatus(m.stub().Remove(Ctx().get(), rm, &rm_resp))), "LEASED");
}

// MatchPrefix with 100k keys in one request gets a correct answer, not a crash.
TEST(MasterProcessTest, MatchPrefixWithHundredThousandKeys) {
  TempDir dir;
  Master m(dir);
  ASSERT_TRUE(Mount(m.stub(), "n1", 1 << 20).ok());
  for (uint64_t i = 0; i < 10; ++i) ASSERT_TRUE(Put(m.stub(), i, 64, 1).ok());
  v1::MatchPrefixRequest req;
  for (uint64_t i = 0; i < 100'000; ++i) *req.add_keys() = Key(i);
  v1::MatchPrefixResponse resp;
  grpc::Status s = m.stub().MatchPrefix(Ctx().get(), req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.best_matched_blocks(), 10u);
}

// A node that stops heartbeating is dropped; Get falls back to the surviving replica.
TEST(MasterProcessTest, SilentNodeIsDeclaredDead) {
  TempDir dir;
  Master m(dir);
  ASSERT_TRUE(Mount(m.stub(), "a", 1 << 20).ok());
  ASSERT_TRUE(Mount(m.stub(), "b", 1 << 20).ok());
  ASSERT_TRUE(Put(m.stub(), 1, 100, 2).ok());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  int replicas = 2;
  while (replicas == 2 && std::chrono::steady_clock::now() < deadline) {
    Beat(m.stub(), "b");  // only b stays alive
    std::this_thread::sleep_for(milliseconds(100));
    auto got = Get(m.stub(), 1);
    ASSERT_TRUE(got.ok()) << got.status();
    replicas = got->replicas_size();
  }
  ASSERT_EQ(replicas, 1) << "node a was never declared dead";
  EXPECT_EQ(Get(m.stub(), 1)->replicas(0).node_id(), "b");
  EXPECT_TRUE(Beat(m.stub(), "a").reregister());
}

// After a master restart, a node re-registers and re-reports; gets work again.
TEST(MasterProcessTest, RestartedMasterConvergesFromNodeReports) {
  TempDir dir;
  Master m(dir);
  ASSERT_TRUE(Mount(m.stub(), "a", 1 << 20).ok());
  auto put = Put(m.stub(), 7, 1000, 1);
  ASSERT_TRUE(put.ok());
  // The node learns what it holds from a RECORD task.
  v1::StoreHeartbeatResponse hb = Beat(m.stub(), "a");
  ASSERT_EQ(hb.tasks_size(), 1);
  EXPECT_EQ(hb.tasks(0).kind(), v1::NODE_TASK_KIND_RECORD);
  const uint64_t offset = hb.tasks(0).offset();
  const int port = m.port();
  m.Kill();
  m.Start(port);
  EXPECT_EQ(ReasonOf(Get(m.stub(), 7).status()), "NOT_FOUND");
  ASSERT_TRUE(Beat(m.stub(), "a").reregister());
  ASSERT_TRUE(Mount(m.stub(), "a", 1 << 20).ok());
  v1::ReportReplicasRequest report;
  report.set_node_id("a");
  report.set_tier(v1::STORAGE_TIER_DRAM);
  v1::ReportedReplica* r = report.add_replicas();
  *r->mutable_key() = Key(7);
  r->set_size(1000);
  r->set_offset(offset);
  v1::ReportReplicasResponse report_resp;
  ASSERT_TRUE(m.stub().ReportReplicas(Ctx().get(), report, &report_resp).ok());
  EXPECT_EQ(report_resp.refused_size(), 0);
  auto got = Get(m.stub(), 7);
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->replicas(0).location().offset(), put->replicas(0).location().offset());
}

}  // namespace
}  // namespace kvc

// The shipped deploy/config/*.yaml files, started through the container entrypoint as
// the namespace harness and the images do, form a working cluster: two masters elect a
// leader in a real etcd (kvc-healthcheck.sh master-leader names it, and the standby once
// the leader stops), a conductor, a prefill and a decode worker register, a kvc-store and
// the workers mount pool segments, a chat completion is served, every role's healthcheck
// passes, and every process exits 0 on SIGTERM. Only per-host values (loopback addresses,
// ephemeral ports, small DRAM) are overridden, through the environment, as
// docs/deploy.md says.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include "kvc/rpc/auth.h"
#include "kvc/rpc/client.h"
#include "kvc/v1/store_master.grpc.pb.h"
#include "tests/deploy/deploy_support.h"
#include "tests/store/etcd_cluster.h"
#include "tests/support/http_client.h"

namespace kvc {
namespace {

using std::chrono::milliseconds;
using testing::CommandResult;
using testing::Env;
using testing::Source;
using testing::Subprocess;

constexpr const char* kToken = "cluster-secret-0123";
constexpr const char* kApiKey = "api-key-0123";

// One role process started through the entrypoint with its shipped config.
struct Role {
  std::string name;
  std::unique_ptr<Subprocess> proc;
  std::string address;  // gRPC (HTTP for the conductor's `http`)
};

class ShippedConfigCluster {
 public:
  explicit ShippedConfigCluster(store::testing::EtcdCluster& etcd) : etcd_(etcd) {
    testing::WriteFile(dir_.path() + "/cluster-token", std::string(kToken) + "\n");
    testing::WriteFile(dir_.path() + "/admin-token", "admin-secret\n");
    testing::WriteFile(dir_.path() + "/api-keys", std::string(kApiKey) + "\n");
  }

  // Starts `name` (role = its prefix up to '-') with `env` on top of the common settings;
  // returns its gRPC address, "" when no port file appeared.
  std::string Start(const std::string& name, const std::string& role, Env env) {
    env["KVC_CONFIG"] = Source("deploy/config/" + role + ".yaml");
    env["KVC_CLUSTER_TOKEN_FILE"] = dir_.path() + "/cluster-token";
    env["KVC_LISTEN_ADDRESS"] = "127.0.0.1:0";
    env["KVC_PORT_FILE"] = dir_.path() + "/" + name + ".port";
    env["KVC_METRICS_ADDRESS"] = "127.0.0.1";
    env["KVC_METRICS_PORT"] = "0";
    env["KVC_LOG_LEVEL"] = "info";
    Role r{name, testing::StartEntrypoint({role}, env, dir_.path(), Log(name)), ""};
    const int port = testing::WaitForPortFile(env["KVC_PORT_FILE"], milliseconds(30000));
    if (port > 0) r.address = "127.0.0.1:" + std::to_string(port);
    roles_.push_back(std::move(r));
    return roles_.back().address;
  }

  std::string Log(const std::string& name) const { return dir_.path() + "/" + name + ".log"; }
  std::string Logs() const {
    std::string all;
    for (const Role& r : roles_) all += "--- " + r.name + "\n" + testing::ReadFile(Log(r.name));
    return all;
  }
  const std::string& dir() const { return dir_.path(); }
  std::vector<Role>& roles() { return roles_; }

  CommandResult Healthcheck(const std::vector<std::string>& args, const Env& env = {}) {
    std::vector<std::string> argv = {Source("deploy/container/kvc-healthcheck.sh")};
    argv.insert(argv.end(), args.begin(), args.end());
    return testing::RunCommand(argv, env, dir_.path());
  }

  // SIGTERM to the process serving `address`; it must exit 0.
  void StopAt(const std::string& address) {
    for (Role& r : roles_) {
      if (r.address == address && r.proc) Stop(r);
    }
  }

  // SIGTERM to every process still running, last started first; each must exit 0.
  void StopAll() {
    for (auto it = roles_.rbegin(); it != roles_.rend(); ++it) {
      if (it->proc) Stop(*it);
    }
  }

 private:
  void Stop(Role& r) {
    ASSERT_TRUE(r.proc->Signal(SIGTERM)) << r.name;
    const std::optional<int> status = r.proc->WaitFor(milliseconds(20000));
    ASSERT_TRUE(status.has_value()) << r.name << " did not exit within 20 s of SIGTERM";
    EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
        << r.name << ": " << testing::DescribeStatus(*status) << "\n"
        << testing::ReadFile(Log(r.name));
    r.proc.reset();
  }

  store::testing::EtcdCluster& etcd_;
  testing::TempDir dir_;
  std::vector<Role> roles_;
};

uint64_t PoolNodes(const std::string& master) {
  auto stub = v1::StoreMaster::NewStub(MakeChannel(master));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
  AddBearerToken(&ctx, kToken);
  v1::GetStatsRequest req;
  v1::GetStatsResponse resp;
  return stub->GetStats(&ctx, req, &resp).ok() ? resp.nodes() : 0;
}

TEST(ShippedConfigTest, EveryRoleStartsFromItsShippedConfigAndTheClusterServes) {
  if (!store::testing::HaveEtcd()) GTEST_SKIP() << "etcd is not installed (/usr/bin/etcd)";
  store::testing::EtcdCluster etcd;
  ASSERT_TRUE(etcd.WaitUp());
  ShippedConfigCluster cluster(etcd);
  const Env etcd_env = {{"KVC_ETCD_ENDPOINTS", etcd.client_url()}};

  // Two masters; exactly one is the leader, and master-leader says which.
  const std::string m0 = cluster.Start("master-0", "master", etcd_env);
  const std::string m1 = cluster.Start("master-1", "master", etcd_env);
  ASSERT_FALSE(m0.empty() || m1.empty()) << cluster.Logs();
  std::string leader;
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        for (const std::string& m : {m0, m1}) {
          if (cluster.Healthcheck({"master-leader", m}, etcd_env).exit_code == 0) leader = m;
        }
        return !leader.empty();
      },
      milliseconds(15000)))
      << cluster.Logs();
  const std::string standby = leader == m0 ? m1 : m0;
  CommandResult standby_check = cluster.Healthcheck({"master-leader", standby}, etcd_env);
  EXPECT_EQ(standby_check.exit_code, 1) << standby_check.output;
  EXPECT_NE(standby_check.output.find("standby"), std::string::npos) << standby_check.output;
  EXPECT_EQ(cluster.Healthcheck({"master", standby}).exit_code, 0) << "the standby is alive";

  const std::string http_port_file = cluster.dir() + "/http.port";
  const std::string conductor =
      cluster.Start("conductor", "conductor",
                    {{"KVC_HTTP_ADDRESS", "127.0.0.1"},
                     {"KVC_HTTP_PORT", "0"},
                     {"KVC_HTTP_PORT_FILE", http_port_file},
                     {"KVC_MASTER_ADDRESS", leader},
                     {"KVC_ADMIN_TOKEN_FILE", cluster.dir() + "/admin-token"},
                     {"KVC_API_KEYS_FILE", cluster.dir() + "/api-keys"}});
  ASSERT_FALSE(conductor.empty()) << cluster.Logs();
  const int http_port = testing::WaitForPortFile(http_port_file, milliseconds(10000));
  ASSERT_GT(http_port, 0) << cluster.Logs();

  for (const char* role_name : {"prefill", "decode"}) {
    const std::string role = role_name;
    const std::string address = cluster.Start(role + "-0", role,
                                              {{"KVC_NODE_ID", role + "-0"},
                                               {"KVC_CONDUCTOR_ADDRESS", conductor},
                                               {"KVC_MASTER_ADDRESS", leader},
                                               {"KVC_TRANSFER_LISTEN_ADDRESS", "127.0.0.1:0"},
                                               {"KVC_STORE_DRAM_BYTES", "33554432"},
                                               {"KVC_ENGINE_THREADS", "1"}});
    ASSERT_FALSE(address.empty()) << cluster.Logs();
  }
  Env store_env = etcd_env;
  store_env.insert({{"KVC_NODE_ID", "store-0"},
                    {"KVC_TRANSFER_LISTEN_ADDRESS", "127.0.0.1:0"},
                    {"KVC_STORE_DRAM_BYTES", "33554432"},
                    {"KVC_STORE_STAGING_BYTES", "4194304"}});
  ASSERT_FALSE(cluster.Start("store-0", "store", store_env).empty()) << cluster.Logs();

  // Both workers registered with the conductor; three segments mounted with the leader.
  ASSERT_TRUE(testing::WaitUntil(
      [&] {
        testing::HttpResponse h = testing::HttpRequest(http_port, "GET", "/health");
        if (h.status != 200) return false;
        nlohmann::json j = nlohmann::json::parse(h.body, nullptr, false);
        return j.is_object() && j.value("prefill_nodes_up", 0) == 1 &&
               j.value("decode_nodes_up", 0) == 1;
      },
      milliseconds(30000)))
      << cluster.Logs();
  EXPECT_TRUE(testing::WaitUntil([&] { return PoolNodes(leader) == 3; }, milliseconds(20000)))
      << "pool nodes at the leader: " << PoolNodes(leader) << "\n"
      << cluster.Logs();

  const std::string body =
      R"({"model":"kvc-tiny","messages":[{"role":"user","content":"hello"}],"max_tokens":4})";
  testing::HttpResponse unauthorized =
      testing::HttpRequest(http_port, "POST", "/v1/chat/completions", body);
  EXPECT_EQ(unauthorized.status, 401);
  testing::HttpResponse chat = testing::HttpRequest(
      http_port, "POST", "/v1/chat/completions", body,
      {"Authorization: Bearer " + std::string(kApiKey), "Content-Type: application/json"});
  ASSERT_EQ(chat.status, 200) << chat.body << "\n" << cluster.Logs();
  nlohmann::json reply = nlohmann::json::parse(chat.body, nullptr, false);
  ASSERT_TRUE(reply.is_object()) << chat.body;
  EXPECT_EQ(reply["object"], "chat.completion") << chat.body;
  EXPECT_TRUE(reply["choices"][0]["message"]["content"].is_string()) << chat.body;

  for (Role& r : cluster.roles()) {
    const std::string role = r.name.substr(0, r.name.find('-'));
    if (role == "conductor") continue;  // HTTP /health, checked below
    CommandResult health = cluster.Healthcheck({role, r.address});
    EXPECT_EQ(health.exit_code, 0) << r.name << ": " << health.output;
  }
  CommandResult http_health =
      cluster.Healthcheck({"conductor", "127.0.0.1:" + std::to_string(http_port)});
  EXPECT_EQ(http_health.exit_code, 0) << http_health.output;

  // The leader stops (SIGTERM revokes its lease): the standby becomes the one Ready master.
  cluster.StopAt(leader);
  EXPECT_TRUE(testing::WaitUntil(
      [&] {
        return cluster.Healthcheck({"master-leader", standby}, etcd_env).exit_code == 0;
      },
      milliseconds(10000)))
      << cluster.Logs();
  EXPECT_NE(cluster.Healthcheck({"master-leader", leader}, etcd_env).exit_code, 0);

  cluster.StopAll();
}

}  // namespace
}  // namespace kvc

// Test helper: a kvc-master and kvc-store nodes as real processes on loopback,
// plus an in-test StoreClient with its own transfer engine and registered buffer.
#pragma once

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kvc/rpc/auth.h"
#include "kvc/rpc/client.h"
#include "kvc/store/store_client.h"
#include "kvc/transfer/transfer_engine.h"
#include "kvc/v1/store_master.grpc.pb.h"
#include "tests/support/subprocess.h"

namespace kvc::store::testing {

using std::chrono::milliseconds;

class StoreCluster {
 public:
  // With a `token`, the master and every node require it (--cluster-token) and
  // clients and stats calls present it (also as their transfer engines' token).
  explicit StoreCluster(std::vector<std::string> master_flags = {}, std::string token = "")
      : master_flags_(std::move(master_flags)), token_(std::move(token)) {
    if (!token_.empty()) master_flags_.insert(master_flags_.end(), {"--cluster-token", token_});
  }

  // Starts (or restarts on its old port) the master.
  void StartMaster() {
    const std::string port_file = dir_.path() + "/master.port";
    std::remove(port_file.c_str());
    std::vector<std::string> argv = {kvc::testing::BinDir() + "/kvc-master",
                                     "--listen-address",
                                     "127.0.0.1:" + std::to_string(master_port_),
                                     "--port-file",
                                     port_file,
                                     "--store-heartbeat-interval-ms",
                                     "100",
                                     "--store-node-timeout-ms",
                                     std::to_string(node_timeout_ms_),
                                     "--tick-ms",
                                     "50"};
    argv.insert(argv.end(), master_flags_.begin(), master_flags_.end());
    master_ = std::make_unique<kvc::testing::Subprocess>(argv, dir_.path() + "/master.log");
    master_port_ = kvc::testing::WaitForPortFile(port_file, milliseconds(10000));
    ASSERT_GT(master_port_, 0) << kvc::testing::ReadFile(dir_.path() + "/master.log");
    stub_ = v1::StoreMaster::NewStub(MakeChannel(master_address()));
  }
  // The master's store.node_timeout_ms from the next StartMaster on (default 1000).
  void set_node_timeout_ms(int ms) { node_timeout_ms_ = ms; }
  void KillMaster() {
    master_->Signal(SIGKILL);
    master_->WaitFor(milliseconds(5000));
  }
  std::string master_address() const { return "127.0.0.1:" + std::to_string(master_port_); }

  // Starts node `id` (same id + ssd dir on restart) and waits until it registered.
  // `extra` flags are appended (e.g. transfer or metrics options).
  void StartNode(const std::string& id, uint64_t dram_bytes, bool ssd,
                 const std::vector<std::string>& extra = {}) {
    const std::string port_file = dir_.path() + "/" + id + ".port";
    std::remove(port_file.c_str());
    std::vector<std::string> argv = {kvc::testing::BinDir() + "/kvc-store",
                                     "--listen-address",
                                     "127.0.0.1:0",
                                     "--port-file",
                                     port_file,
                                     "--node-id",
                                     id,
                                     "--master-address",
                                     master_address(),
                                     "--store-dram-bytes",
                                     std::to_string(dram_bytes),
                                     "--store-staging-bytes",
                                     std::to_string(8 << 20)};
    if (ssd) {
      argv.insert(argv.end(), {"--store-ssd-path", dir_.path() + "/" + id + ".ssd"});
    }
    if (!token_.empty()) argv.insert(argv.end(), {"--cluster-token", token_});
    argv.insert(argv.end(), extra.begin(), extra.end());
    nodes_[id] = std::make_unique<kvc::testing::Subprocess>(argv, dir_.path() + "/" + id + ".log");
    node_ports_[id] = kvc::testing::WaitForPortFile(port_file, milliseconds(10000));
    ASSERT_GT(node_ports_[id], 0) << kvc::testing::ReadFile(dir_.path() + "/" + id + ".log");
  }
  // The StoreNode gRPC address of node `id` (started by StartNode).
  std::string node_address(const std::string& id) const {
    return "127.0.0.1:" + std::to_string(node_ports_.at(id));
  }
  void KillNode(const std::string& id) {
    nodes_[id]->Signal(SIGKILL);
    nodes_[id]->WaitFor(milliseconds(5000));
    nodes_.erase(id);
  }

  // Polls GetStats until `pred` holds or `timeout` passes; returns the last stats.
  template <typename Pred>
  v1::GetStatsResponse WaitStats(Pred pred, milliseconds timeout = milliseconds(10000)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    v1::GetStatsResponse stats;
    while (true) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      if (!token_.empty()) AddBearerToken(&ctx, token_);
      stats.Clear();
      const bool ok = stub_->GetStats(&ctx, v1::GetStatsRequest(), &stats).ok();
      if ((ok && pred(stats)) || std::chrono::steady_clock::now() > deadline) return stats;
      std::this_thread::sleep_for(milliseconds(50));
    }
  }

  // A client with its own engine and a registered buffer of `buffer_bytes`.
  struct Client {
    std::unique_ptr<transfer::SegmentDirectory> directory;
    std::unique_ptr<transfer::TransferEngine> engine;
    std::vector<char> buffer;
    std::unique_ptr<StoreClient> client;
  };
  std::unique_ptr<Client> MakeClient(uint64_t buffer_bytes, uint32_t replicas = 1,
                                     bool lease_cache = true) {
    auto c = std::make_unique<Client>();
    transfer::TransferEngineOptions eo;
    if (!token_.empty()) eo.cluster_token = token_;
    c->directory = transfer::MakePeerSegmentDirectory(eo.cluster_token);
    eo.listen_address = "";  // initiator only
    eo.peer_timeout_ms = 1000;
    auto engine = transfer::CreateTransferEngine(eo, c->directory.get());
    EXPECT_TRUE(engine.ok()) << engine.status();
    c->engine = std::move(*engine);
    c->buffer.resize(buffer_bytes);
    EXPECT_TRUE(c->engine->RegisterMemory(c->buffer.data(), buffer_bytes, "cpu:0", false).ok());
    StoreClientOptions co;
    co.master_address = master_address();
    co.replicas = replicas;
    co.lease_cache = lease_cache;
    co.cluster_token = token_;
    auto client = StoreClient::Create(co, *c->engine);
    EXPECT_TRUE(client.ok());
    c->client = std::move(*client);
    return c;
  }

  v1::StoreMaster::Stub& stub() { return *stub_; }

 private:
  kvc::testing::TempDir dir_;
  std::vector<std::string> master_flags_;
  const std::string token_;
  int node_timeout_ms_ = 1000;
  std::map<std::string, int> node_ports_;
  std::unique_ptr<kvc::testing::Subprocess> master_;
  int master_port_ = 0;
  std::unique_ptr<v1::StoreMaster::Stub> stub_;
  std::map<std::string, std::unique_ptr<kvc::testing::Subprocess>> nodes_;
};

// Deterministic content of value `id`, `size` bytes.
inline void FillPattern(char* out, uint64_t size, uint64_t id) {
  uint64_t x = id * 0x9e3779b97f4a7c15ULL + 1;
  for (uint64_t i = 0; i < size; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out[i] = static_cast<char>(x);
  }
}
inline bool MatchesPattern(const char* data, uint64_t size, uint64_t id) {
  std::vector<char> expect(size);
  FillPattern(expect.data(), size, id);
  return std::equal(expect.begin(), expect.end(), data);
}

}  // namespace kvc::store::testing

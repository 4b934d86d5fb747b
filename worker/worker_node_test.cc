#include "kvc/worker/worker_node.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "kvc/engine/tiny_model.h"

namespace kvc::worker {
namespace {

WorkerNodeOptions StandaloneOptions() {
  WorkerNodeOptions o;
  o.master_address = "";  // no pool
  o.engine.num_blocks = 8;
  o.server.node_id = "decode-t";
  return o;
}

// Built-in model: served as kvc-tiny from a temp dir that is gone once the engine
// has loaded it (so even a SIGKILLed worker leaves nothing in /tmp).
TEST(WorkerNodeTest, BuiltInModelInTempDirRemovedAfterLoading) {
  auto node = WorkerNode::Create(StandaloneOptions(), v1::NODE_ROLE_DECODE);
  ASSERT_TRUE(node.ok()) << node.status();
  EXPECT_EQ((*node)->model_id(), "kvc-tiny");
  EXPECT_EQ((*node)->node_id(), "decode-t");
  EXPECT_EQ((*node)->store(), nullptr);
  const std::string dir = (*node)->model_dir();
  EXPECT_NE(dir.find("kvc-tiny-"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(dir));
  EXPECT_EQ((*node)->engine().cache().num_blocks(), 8);
}

// True when `address` starts a mapping of a transfer engine's shared memory (a memfd
// from TransferEngine::AllocateSharedMemory), per /proc/self/maps.
bool InSharedMemory(const void* address) {
  std::ifstream maps("/proc/self/maps");
  const uint64_t want = reinterpret_cast<uint64_t>(address);
  for (std::string line; std::getline(maps, line);) {
    if (std::stoull(line.substr(0, line.find('-')), nullptr, 16) == want) {
      return line.find("memfd:kvc-transfer") != std::string::npos;
    }
  }
  return false;
}

// The KV arena is published remote accessible in the node's transfer segment, and
// lives in the transfer engine's shared memory (same-host peers map it).
TEST(WorkerNodeTest, ArenaIsPublishedRemoteAccessible) {
  auto node = WorkerNode::Create(StandaloneOptions(), v1::NODE_ROLE_PREFILL);
  ASSERT_TRUE(node.ok()) << node.status();
  auto arena = (*node)->engine().cache().Arena();
  const auto segment = (*node)->transfer().LocalSegment();
  bool found = false;
  for (const auto& r : segment.regions) {
    if (r.address == reinterpret_cast<uint64_t>(arena.data()) && r.length == arena.size()) {
      found = true;
    }
  }
  EXPECT_TRUE(found);
  EXPECT_TRUE(InSharedMemory(arena.data())) << "the arena is not a transfer-engine memfd mapping";
  const v1::NodeLoad load = EngineLoad((*node)->engine());
  EXPECT_EQ(load.total_kv_blocks(), 8u);
  EXPECT_EQ(load.free_kv_blocks(), 8u);
}

// A configured model directory keeps its name as the id unless config.json names one.
TEST(WorkerNodeTest, ConfiguredModelDirAndBadOnes) {
  const std::string dir = std::filesystem::temp_directory_path() / "kvc-worker-test-model";
  ASSERT_TRUE(engine::WriteTinyModel(dir, 0).ok());
  WorkerNodeOptions o = StandaloneOptions();
  o.model_dir = dir;
  o.model_id = "my-model";
  auto node = WorkerNode::Create(o, v1::NODE_ROLE_DECODE);
  ASSERT_TRUE(node.ok()) << node.status();
  EXPECT_EQ((*node)->model_id(), "my-model");
  node->reset();
  EXPECT_TRUE(std::filesystem::exists(dir)) << "a configured dir is never removed";
  std::filesystem::remove_all(dir);

  o.model_dir = "/nonexistent/model";
  auto bad = WorkerNode::Create(o, v1::NODE_ROLE_DECODE);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("/nonexistent/model"), std::string::npos);
}

// The sim backend serves the directory's model id, not its perfmodel preset.
TEST(WorkerNodeTest, SimBackendKeepsTheModelId) {
  WorkerNodeOptions o = StandaloneOptions();
  o.engine.backend = "sim";
  auto node = WorkerNode::Create(o, v1::NODE_ROLE_DECODE);
  ASSERT_TRUE(node.ok()) << node.status();
  EXPECT_EQ((*node)->model_id(), "kvc-tiny");
}

// Option validation names the field.
TEST(WorkerNodeTest, ValidationNamesTheField) {
  WorkerNodeOptions o = StandaloneOptions();
  o.engine.backend = "gpu";
  EXPECT_NE(ValidateWorkerNodeOptions(o).message().find("engine.backend"), std::string::npos);
  o = StandaloneOptions();
  o.engine.num_blocks = 0;
  EXPECT_NE(ValidateWorkerNodeOptions(o).message().find("engine.num_blocks"), std::string::npos);
  o = StandaloneOptions();
  o.master_address = "nohost";
  EXPECT_NE(ValidateWorkerNodeOptions(o).message().find("master_address"), std::string::npos);
  EXPECT_TRUE(ValidateWorkerNodeOptions(StandaloneOptions()).ok());
}

// What a node announces must be dialable by its cluster: a loopback gRPC or
// transfer address is refused when the conductor or the master is on another
// host, a wildcard transfer bind publishes the gRPC advertise host.
TEST(WorkerNodeTest, AnnouncedAddressesMustBeReachableByTheCluster) {
  WorkerNodeOptions o = StandaloneOptions();
  o.master_address = "10.9.0.1:50052";
  Status s = ValidateWorkerNodeOptions(o);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("advertise_address"), std::string::npos) << s;
  o.membership.advertise_address = "10.9.0.2:50061";
  s = ValidateWorkerNodeOptions(o);  // gRPC fine now; the transfer target is still loopback
  EXPECT_NE(s.message().find("transfer.advertise_address"), std::string::npos) << s;
  o.transfer.listen_address = "0.0.0.0:0";
  EXPECT_TRUE(ValidateWorkerNodeOptions(o).ok()) << ValidateWorkerNodeOptions(o);
  EXPECT_EQ(EffectiveTransferOptions(o).advertise_address, "10.9.0.2");
  o.membership.advertise_address = "0.0.0.0:50061";
  EXPECT_EQ(ValidateWorkerNodeOptions(o).code(), absl::StatusCode::kInvalidArgument);
  // All on loopback (the single-host default) stays valid.
  WorkerNodeOptions local = StandaloneOptions();
  local.master_address = "127.0.0.1:50052";
  local.membership.conductor_address = "127.0.0.1:50051";
  local.transfer.listen_address = "0.0.0.0:0";
  EXPECT_TRUE(ValidateWorkerNodeOptions(local).ok());
  EXPECT_EQ(EffectiveTransferOptions(local).advertise_address, "127.0.0.1");
}

// The cluster token replaces the transfer token (one secret per cluster).
TEST(WorkerNodeTest, ClusterTokenIsTheTransferToken) {
  WorkerNodeOptions o = StandaloneOptions();
  o.membership.cluster_token = "s3cret";
  EXPECT_EQ(EffectiveTransferOptions(o).cluster_token, "s3cret");
  o.metrics.port = 70000;
  EXPECT_NE(ValidateWorkerNodeOptions(o).message().find("metrics_port"), std::string::npos);
}

}  // namespace
}  // namespace kvc::worker

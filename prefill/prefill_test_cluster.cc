#include "prefill/prefill_test_cluster.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "kvc/engine/cpu_engine.h"
#include "kvc/engine/sim_engine.h"
#include "kvc/engine/tiny_model.h"
#include "kvc/rpc/client.h"

namespace kvc::prefill::testing {

std::shared_ptr<const engine::ModelWeights> TinyWeights() {
  static const std::shared_ptr<const engine::ModelWeights> weights = [] {
    char tmpl[] = "/tmp/kvc-prefill-test-XXXXXX";
    const std::string dir = mkdtemp(tmpl);
    EXPECT_TRUE(engine::WriteTinyModel(dir, 7).ok());
    auto w = engine::LoadModelWeights(dir);
    EXPECT_TRUE(w.ok()) << w.status();
    std::filesystem::remove_all(dir);
    return std::shared_ptr<const engine::ModelWeights>(std::move(*w));
  }();
  return weights;
}

Node::Node(const std::string& node_id, const std::string& master, transfer::FaultInjector* faults,
           int64_t num_blocks, bool sim)
    : id_(node_id) {
  directory_ = transfer::MakePeerSegmentDirectory("kvc-dev-token");
  engine::SimEngineOptions so;
  so.time_scale = 0;
  so.block_tokens = 16;
  so.num_blocks = num_blocks;
  so.vocab_size = 1000;
  auto engine =
      sim ? engine::NewSimEngine(so) : engine::NewCpuEngine(TinyWeights(), {num_blocks, 16, 1});
  EXPECT_TRUE(engine.ok()) << engine.status();
  engine_ = std::move(*engine);
  transfer::TransferEngineOptions to;
  to.peer_timeout_ms = 1000;
  auto transfer = transfer::CreateTransferEngine(to, directory_.get(), faults);
  EXPECT_TRUE(transfer.ok()) << transfer.status();
  transfer_ = std::move(*transfer);
  std::span<uint8_t> arena = engine_->cache().Arena();
  EXPECT_TRUE(transfer_->RegisterMemory(arena.data(), arena.size(), "cpu:0", true).ok());
  EXPECT_TRUE(transfer_->Publish().ok());
  if (master.empty()) return;
  store::SegmentServerOptions sso;
  sso.node_id = node_id;
  sso.master_address = master;
  sso.dram_bytes = 8 << 20;
  sso.staging_bytes = 1 << 20;
  sso.heartbeat_interval_ms = 100;
  auto segment = store::SegmentServer::Create(sso, *transfer_);
  EXPECT_TRUE(segment.ok()) << segment.status();
  segment_ = std::move(*segment);
  auto rpc = RunningServer::Start("store-node", ServerOptions{}, {segment_->service()});
  EXPECT_TRUE(rpc.ok()) << rpc.status();
  segment_rpc_ = std::move(*rpc);
  segment_->Run(segment_rpc_->address());
  for (int i = 0; i < 200 && !segment_->registered(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(segment_->registered());
  store::StoreClientOptions co;
  co.master_address = master;
  co.node_id = node_id;
  auto client = store::StoreClient::Create(co, *transfer_);
  EXPECT_TRUE(client.ok()) << client.status();
  store_ = std::move(*client);
}

Node::~Node() {
  store_.reset();
  if (segment_) segment_->Stop(false);
  if (segment_rpc_) segment_rpc_->Shutdown(0);
  segment_.reset();
  transfer_.reset();
  engine_.reset();
}

std::vector<engine::BlockId> Node::Allocate(int64_t tokens) {
  engine::Sequence seq;
  EXPECT_TRUE(engine_->EnsureBlocks(seq, tokens).ok());
  return seq.blocks;
}

std::vector<v1::MemoryDescriptor> Node::Describe(const std::vector<engine::BlockId>& blocks) {
  std::vector<v1::MemoryDescriptor> out;
  engine::KvCache& cache = engine_->cache();
  for (engine::BlockId b : blocks) {
    v1::MemoryDescriptor d;
    d.set_segment_name(transfer_->LocalSegment().name);
    d.set_offset(reinterpret_cast<uint64_t>(cache.Arena().data() + cache.BlockOffset(b)));
    d.set_length(cache.geometry().block_bytes());
    out.push_back(d);
  }
  return out;
}

void Node::Free(const std::vector<engine::BlockId>& blocks) {
  for (engine::BlockId b : blocks) engine_->cache().Free(b);
}

PrefillServer::PrefillServer(Node& node, PrefillWorkerOptions options) {
  if (options.model_id.empty()) options.model_id = engine::kTinyModelId;
  if (options.node_id.empty()) options.node_id = node.id();
  auto worker = PrefillWorker::Create(options, node.engine(), node.transfer(), node.store());
  EXPECT_TRUE(worker.ok()) << worker.status();
  worker_ = std::move(*worker);
  auto server = RunningServer::Start("prefill", ServerOptions{}, {worker_->service()});
  EXPECT_TRUE(server.ok()) << server.status();
  server_ = std::move(*server);
  stub_ = v1::Prefill::NewStub(MakeChannel(server_->address()));
}

PrefillServer::~PrefillServer() {
  worker_->Shutdown();
  server_->Shutdown(0);
}

grpc::Status PrefillServer::Call(const v1::PrefillRequest& request, v1::PrefillResponse* response) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return stub_->Prefill(&ctx, request, response);
}

}  // namespace kvc::prefill::testing

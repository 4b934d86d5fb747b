// Test helpers for the prefill worker: an in-process kvc-master
// (store/testing/in_process_master.h), nodes made of a real CPU engine (kvc-tiny),
// a real transfer engine with the KV arena registered, and optionally a store
// segment (SegmentServer) and store client, and a prefill worker served over gRPC.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "kvc/engine/engine.h"
#include "kvc/engine/model_weights.h"
#include "kvc/prefill/prefill_worker.h"
#include "kvc/rpc/server.h"
#include "kvc/store/segment_server.h"
#include "kvc/store/store_client.h"
#include "kvc/transfer/transfer_engine.h"
#include "kvc/v1/prefill.grpc.pb.h"
#include "store/testing/in_process_master.h"

namespace kvc::prefill::testing {

// kvc-tiny's weights, written with WriteTinyModel into a temp dir and loaded once.
std::shared_ptr<const engine::ModelWeights> TinyWeights();

using store::testing::InProcessMaster;

// One node: engine + transfer engine (+ store segment and client with a master).
class Node {
 public:
  // `master` "" = no store. `faults` (borrowed, may be null) goes to the transfer engine.
  // `sim`: the simulated backend (no waiting, 16-token blocks) instead of kvc-tiny on CPU.
  Node(const std::string& node_id, const std::string& master,
       transfer::FaultInjector* faults = nullptr, int64_t num_blocks = 64, bool sim = false);
  ~Node();

  engine::Engine& engine() { return *engine_; }
  transfer::TransferEngine& transfer() { return *transfer_; }
  store::StoreClient* store() { return store_.get(); }
  const std::string& id() const { return id_; }

  // Decode side: allocates blocks for `tokens` tokens and describes them.
  std::vector<engine::BlockId> Allocate(int64_t tokens);
  std::vector<v1::MemoryDescriptor> Describe(const std::vector<engine::BlockId>& blocks);
  void Free(const std::vector<engine::BlockId>& blocks);

 private:
  std::string id_;
  std::unique_ptr<transfer::SegmentDirectory> directory_;
  std::unique_ptr<engine::Engine> engine_;
  std::unique_ptr<transfer::TransferEngine> transfer_;
  std::unique_ptr<store::SegmentServer> segment_;
  std::unique_ptr<RunningServer> segment_rpc_;
  std::unique_ptr<store::StoreClient> store_;
};

// A PrefillWorker on `node`, served over gRPC, with a stub.
class PrefillServer {
 public:
  PrefillServer(Node& node, PrefillWorkerOptions options);
  ~PrefillServer();
  PrefillWorker& worker() { return *worker_; }
  v1::Prefill::Stub& stub() { return *stub_; }
  // Calls Prefill with a 10 s deadline.
  grpc::Status Call(const v1::PrefillRequest& request, v1::PrefillResponse* response);

 private:
  std::unique_ptr<PrefillWorker> worker_;
  std::unique_ptr<RunningServer> server_;
  std::unique_ptr<v1::Prefill::Stub> stub_;
};

}  // namespace kvc::prefill::testing

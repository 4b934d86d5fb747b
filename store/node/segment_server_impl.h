// Private implementation of SegmentServer (see segment_server.h).
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "kvc/common/block_hash.h"
#include "kvc/store/segment_server.h"
#include "kvc/v1/store_master.grpc.pb.h"
#include "store/etcd/master_locator.h"
#include "store/master/range_allocator.h"
#include "store/node/ssd_tier.h"

namespace kvc::store {

// A region of node memory, zero-filled and touched: the engine's shared memory
// (same-host peers map it and copy with memcpy) when `shared` and the engine has
// it, else private memory on transparent huge pages (peers use cross-memory
// attach or TCP). Freed on destruction; unregister it from the engine first.
struct NodeMemory {
  NodeMemory(transfer::TransferEngine& engine, uint64_t bytes, bool shared);
  ~NodeMemory();
  NodeMemory(const NodeMemory&) = delete;
  NodeMemory& operator=(const NodeMemory&) = delete;
  transfer::TransferEngine& engine;
  char* data = nullptr;  // null when allocation failed
  uint64_t size = 0;
  bool shared = false;  // from AllocateSharedMemory
};

class SegmentServerImpl;

class StoreNodeService final : public v1::StoreNode::Service {
 public:
  explicit StoreNodeService(SegmentServerImpl& server) : server_(server) {}
  grpc::Status Stage(grpc::ServerContext*, const v1::StageRequest*, v1::StageResponse*) override;
  grpc::Status Unstage(grpc::ServerContext*, const v1::UnstageRequest*,
                       v1::UnstageResponse*) override;

 private:
  SegmentServerImpl& server_;
};

class SegmentServerImpl final : public SegmentServer {
 public:
  SegmentServerImpl(const SegmentServerOptions& options, transfer::TransferEngine& engine);
  ~SegmentServerImpl() override;
  Status Init();

  grpc::Service* service() override { return &service_; }
  void Run(const std::string& rpc_address) override;
  void Stop(bool unmount) override;
  bool registered() const override;

  // Staging (store_node_service.cc).
  StatusOr<v1::StageResponse> Stage(const BlockKey& key);
  Status Unstage(uint64_t staging_id);

 private:
  struct Staged {
    uint64_t offset;
    uint64_t size;
    std::chrono::steady_clock::time_point expires;
  };
  void Loop();
  Status Register();
  Status ReportContents(v1::StorageTier tier);
  Status Beat();
  bool RunTask(const v1::NodeTask& task);  // segment_server_tasks.cc
  bool Replicate(const v1::NodeTask& task);
  std::unique_ptr<grpc::ClientContext> Ctx() const;
  void ExpireStagedLocked();  // REQUIRES: mu_ held

  // Constant after Init.
  const SegmentServerOptions options_;
  transfer::TransferEngine& engine_;
  StoreNodeService service_{*this};
  std::unique_ptr<NodeMemory> dram_;
  std::unique_ptr<NodeMemory> staging_;
  std::unique_ptr<SsdTier> ssd_;
  std::string hostname_;
  std::string rpc_address_;
  std::unique_ptr<MasterLocator> locator_;
  std::unique_ptr<v1::StoreMaster::Stub> master_;  // heartbeat thread (and Stop after it ended)
  std::string master_in_use_;                      // address master_ talks to

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ = false;        // guarded by mu_
  bool registered_ = false;  // guarded by mu_
  uint32_t interval_ms_;     // guarded by mu_
  std::unordered_map<BlockKey, std::pair<uint64_t, uint64_t>, BlockKeyHash>
      dram_contents_;                     // key -> (offset, size); guarded by mu_
  RangeAllocator staging_alloc_;          // guarded by mu_
  std::map<uint64_t, Staged> staged_;     // guarded by mu_
  uint64_t next_staging_id_ = 1;          // guarded by mu_
  std::vector<v1::NodeTaskResult> done_;  // heartbeat thread only
  std::thread thread_;
};

}  // namespace kvc::store

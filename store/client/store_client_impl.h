// Private implementation of StoreClient (see kvc/store/store_client.h).
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "kvc/rpc/grpc_status.h"
#include "kvc/store/store_client.h"
#include "kvc/v1/store_master.grpc.pb.h"
#include "store/client/master_channel.h"

namespace kvc::store {

class StoreClientImpl final : public StoreClient {
 public:
  StoreClientImpl(const StoreClientOptions& options, transfer::TransferEngine& engine,
                  std::unique_ptr<MasterLocator> locator);

  Status Put(const BlockKey& key, const void* data, uint64_t size) override;
  StatusOr<uint64_t> Get(const BlockKey& key, void* buffer, uint64_t capacity) override;
  std::vector<Status> BatchPut(std::span<const PutItem> items) override;
  std::vector<StatusOr<uint64_t>> BatchGet(std::span<const GetItem> items) override;
  StatusOr<bool> Exists(const BlockKey& key) override;
  StatusOr<std::vector<bool>> BatchExists(std::span<const BlockKey> keys) override;
  Status Remove(const BlockKey& key) override;
  StatusOr<StorePrefixMatch> MatchPrefix(std::span<const BlockKey> keys) override;
  Status ReportUnreachable(const std::string& node_id, const std::string& reason) override;

  // Asks the locator again (etcd mode) and replaces the stub.
  Status RefreshMaster();

 private:
  struct Transfer {
    transfer::TransferOp op;
    void* local;
    const v1::MemoryDescriptor* remote;
  };
  std::unique_ptr<grpc::ClientContext> Ctx() const;
  v1::RequestHeader* Header(v1::RequestHeader* h) const;
  StatusOr<transfer::SegmentHandle> Handle(const std::string& segment);
  v1::StoreNode::Stub& NodeStub(const std::string& address);
  // Runs the transfers in one batch; one Status per transfer.
  std::vector<Status> RunBatch(const std::vector<Transfer>& transfers);
  // Reads one replica into buffer (staging it first when it is on SSD).
  Status ReadReplica(const BlockKey& key, const v1::Replica& replica, void* buffer);
  // Tries replicas[first..] in order until one read succeeds; nodes of replicas
  // that failed unreachable go to *unreachable (node id → error).
  StatusOr<uint64_t> ReadWithFallback(const BlockKey& key, const v1::GetResponse& found, int first,
                                      void* buffer, Status last_error,
                                      std::map<std::string, std::string>* unreachable);
  Status CheckLease(const v1::GetResponse& found) const;
  // One PutStart; with `until`, repeated (after a leader lookup) while a master
  // take-over is under way, until then (store_client_put.cc).
  Status StartPut(const PutItem& item, v1::PutStartResponse* started,
                  std::optional<std::chrono::steady_clock::time_point> until);
  // PutStart of every item: one BatchPutStart round trip, then single calls for
  // a lone item and (with `until`) for items refused during a take-over.
  void StartPuts(std::span<const PutItem> items, std::vector<v1::PutStartResponse>* started,
                 std::vector<Status>* out,
                 std::optional<std::chrono::steady_clock::time_point> until);
  // One BatchPutEnd: commits what was written, revokes what was not.
  void EndPuts(std::span<const PutItem> items, const std::vector<v1::PutStartResponse>& started,
               const std::vector<bool>& wrote, std::vector<Status>* out);
  // The put protocol once for every item: PutStart all, one write batch, PutEnd all.
  std::vector<Status> BatchPutOnce(std::span<const PutItem> items,
                                   std::optional<std::chrono::steady_clock::time_point> until);
  // BatchGet; `use_cache` = consult the lease cache first.
  std::vector<StatusOr<uint64_t>> BatchGetImpl(std::span<const GetItem> items, bool use_cache);
  // Fills found[i] for every item, from the lease cache or one BatchGet RPC.
  // `cached[i]` says which came from the cache.
  Status Locate(std::span<const GetItem> items, bool use_cache, std::vector<v1::GetResponse>* found,
                std::vector<bool>* cached);
  void Forget(const BlockKey& key);

  // Runs call(stub) against the master (MasterChannel::Call).
  template <typename Call>
  Status CallMaster(Call call) {
    return master_.Call(call);
  }

  const StoreClientOptions options_;
  transfer::TransferEngine& engine_;
  // Cached leases came from the old master; the new one may place things elsewhere,
  // so in etcd mode every refresh clears lease_cache_.
  MasterChannel master_;
  std::mutex mu_;
  std::map<std::string, transfer::SegmentHandle> handles_;                   // guarded by mu_
  std::map<std::string, std::unique_ptr<v1::StoreNode::Stub>> nodes_;        // guarded by mu_
  std::unordered_map<BlockKey, v1::GetResponse, BlockKeyHash> lease_cache_;  // guarded by mu_
};

}  // namespace kvc::store

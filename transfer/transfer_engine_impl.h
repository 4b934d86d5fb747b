// The TransferEngine implementation: batches of entries cut into slices, slices
// handed to the PeerChannel of their segment's backend, retries of failed slices
// on another path, per-entry status. See kvc/transfer/transfer_engine.h for the
// contract. Thread-safe.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kvc/common/metrics.h"
#include "kvc/transfer/transfer_engine.h"
#include "transfer/internal/channel.h"
#include "transfer/internal/peer_log.h"
#include "transfer/internal/region_table.h"
#include "transfer/internal/shared_memory.h"
#include "transfer/internal/sieve.h"
#include "transfer/shm_export.h"
#include "transfer/tcp_target.h"

namespace kvc::transfer::internal {
class UcxContext;
class VerbsContext;
}  // namespace kvc::transfer::internal

namespace kvc::transfer {

class TransferEngineImpl final : public TransferEngine, private internal::SliceSink {
 public:
  TransferEngineImpl(const TransferEngineOptions& options, SegmentDirectory* directory,
                     FaultInjector* faults);
  ~TransferEngineImpl() override;
  [[nodiscard]] Status Init();

  Status RegisterMemory(void* addr, uint64_t length, const std::string& location,
                        bool remote_accessible) override;
  Status UnregisterMemory(void* addr) override;
  StatusOr<void*> AllocateSharedMemory(uint64_t length) override;
  Status FreeSharedMemory(void* addr) override;
  SegmentDescriptor LocalSegment() const override;
  Status Publish() override;
  StatusOr<SegmentHandle> OpenSegment(const std::string& name) override;
  Status CloseSegment(SegmentHandle handle) override;
  StatusOr<std::string> BackendOf(SegmentHandle handle) const override;
  StatusOr<BatchId> AllocateBatch(uint64_t capacity) override;
  Status Submit(BatchId batch, const std::vector<TransferRequest>& requests) override;
  StatusOr<TransferStatus> GetStatus(BatchId batch, uint64_t index) const override;
  StatusOr<std::vector<TransferStatus>> GetAllStatus(BatchId batch) const override;
  Status Wait(BatchId batch, std::chrono::milliseconds timeout) override;
  Status FreeBatch(BatchId batch) override;

 private:
  struct Peer {
    std::string name;
    SegmentDescriptor descriptor;  // guarded by the engine's mu_
    std::unique_ptr<internal::PeerChannel> channel;
    uint64_t slice_bytes = 0;  // guarded by the engine's mu_; per backend
    // kvc_transfer_bytes_total{op, backend} of the channel's backend; set with
    // the channel (only while no entry is pending, like the channel itself).
    Counter* bytes_read = nullptr;
    Counter* bytes_written = nullptr;
    std::atomic<int64_t> pending_entries{0};
  };
  struct Batch;
  struct Entry {
    TransferRequest request;
    Batch* batch = nullptr;
    Peer* peer = nullptr;
    uint64_t local_key = 0;  // RegionTable pin of the local range
    uint64_t index = 0;      // position in the batch
    std::vector<internal::Slice> slices;
    std::atomic<uint64_t> slices_left{0};
    std::atomic<uint64_t> bytes_done{0};
    TransferState state = TransferState::kPending;  // guarded by batch->mu
    std::mutex error_mu;
    Status error;  // guarded by error_mu
  };
  struct Batch {
    uint64_t capacity = 0;
    mutable std::mutex mu;
    std::condition_variable done;
    std::deque<std::unique_ptr<Entry>> entries;  // guarded by mu
    uint64_t pending = 0;                        // guarded by mu
  };

  void OnSliceDone(internal::Slice* slice, Status status) override;
  void Dispatch(internal::Slice* slice);
  void FinishEntry(Entry* entry);
  std::shared_ptr<Batch> FindBatch(BatchId id) const;
  StatusOr<std::unique_ptr<internal::PeerChannel>> OpenChannel(const SegmentDescriptor& remote);
  Status InitVerbs();
  void CheckVerbs(Status* unavailable);
  std::string AdvertisedEndpoint() const;
  Status ValidateLocked(const std::vector<TransferRequest>& requests, std::vector<Peer*>* peers);
  std::unique_ptr<Entry> MakeEntry(const TransferRequest& request, Peer* peer, uint64_t key,
                                   Batch* batch);
  Status EvictPeerLocked();
  uint64_t SliceBytesFor(const std::string& backend) const;
  // Opens (or re-opens) `peer`'s channel to `remote` and sets what depends on
  // its backend. REQUIRES: mu_ held, no entry of the peer pending.
  Status OpenPeerLocked(Peer& peer, const SegmentDescriptor& remote);
  void NoteFallback(const SegmentDescriptor& remote, const std::string& from, const std::string& to,
                    const Status& why);
  static TransferStatus StatusOfLocked(const Entry& entry);

  const TransferEngineOptions options_;
  SegmentDirectory* const directory_;
  FaultInjector* const faults_;
  internal::RegionTable regions_;
  internal::SharedMemoryPool shared_memory_;  // declared before the servers using it
  internal::PeerLog peer_log_;  // per-peer log lines written once; borrowed by the shm backend
  std::vector<std::unique_ptr<internal::Backend>> backends_;  // constant after Init
  std::unique_ptr<TcpTarget> target_;                         // constant after Init
  std::unique_ptr<ShmExportServer> shm_exports_;              // constant after Init; may be null
  std::shared_ptr<internal::UcxContext> ucx_;                 // constant after Init; may be null
  std::shared_ptr<internal::VerbsContext> verbs_;             // constant after Init; may be null
  std::string segment_name_;                                  // constant after Init
  std::string host_id_;        // options_.host_id or the boot id; constant after Init
  std::string boot_id_;        // constant after Init
  std::string tcp_endpoint_;   // what peers dial (advertised); constant after Init
  std::string topology_json_;  // constant after Init
  std::atomic<bool> shutting_down_{false};
  // Metrics (process-wide registry), constant after construction.
  Counter* retries_;         // kvc_transfer_slice_retries_total
  Counter* failed_entries_;  // kvc_transfer_failed_entries_total

  mutable std::mutex mu_;
  std::map<BatchId, std::shared_ptr<Batch>> batches_;     // guarded by mu_
  std::map<SegmentHandle, std::unique_ptr<Peer>> peers_;  // guarded by mu_
  std::map<std::string, SegmentHandle> handles_by_name_;  // guarded by mu_
  internal::Sieve<SegmentHandle> peer_order_;             // guarded by mu_
  BatchId next_batch_ = 1;                                // guarded by mu_
  SegmentHandle next_handle_ = 1;                         // guarded by mu_
};

}  // namespace kvc::transfer

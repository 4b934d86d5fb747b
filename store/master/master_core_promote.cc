// MasterCore: promotion of hot SSD-only objects back into their node's DRAM.
//
// A Get of an object with no DRAM replica counts a read; store.promote_after_reads
// reads within store.promote_window_ms allocate a DRAM range on the node holding
// the SSD copy (only below its DRAM high watermark, so a promotion never forces an
// eviction) and queue a PROMOTE task: the node reads the value from RocksDB into
// that range and acknowledges. The DRAM replica is WRITING and busy until then;
// the SSD copy stays (busy, not evictable, meanwhile), so a later eviction of the
// DRAM copy costs no new SSD write.
#include <chrono>

#include "store/master/master_core_impl.h"

namespace kvc::store {

void MasterCore::Impl::CountRead(const BlockKey& key, Object& obj) {
  if (policy.promote_after_reads == 0) return;
  for (const Replica& r : obj.replicas) {
    if (r.segment->spec.tier == Tier::kDram) {
      obj.ssd_reads = 0;  // in DRAM already (or being promoted/replicated there)
      return;
    }
  }
  const Clock::TimePoint now = clock.Now();
  if (obj.ssd_reads == 0 ||
      now - obj.ssd_reads_since > std::chrono::milliseconds(policy.promote_window_ms)) {
    obj.ssd_reads = 0;
    obj.ssd_reads_since = now;
  }
  if (++obj.ssd_reads < policy.promote_after_reads) return;
  obj.ssd_reads = 0;
  (void)TryPromote(key, obj);
}

bool MasterCore::Impl::TryPromote(const BlockKey& key, Object& obj) {
  if (!CheckFence("promotion").ok()) return false;  // counted again by later reads
  for (size_t idx = 0; idx < obj.replicas.size(); ++idx) {
    const Replica& src = obj.replicas[idx];
    if (src.segment->spec.tier != Tier::kSsd || src.busy || src.state != ReplicaState::kComplete) {
      continue;
    }
    Node* node = src.segment->node;
    auto dram_it = node->segments.find(Tier::kDram);
    if (dram_it == node->segments.end()) continue;
    Segment* dram = dram_it->second.get();
    const uint64_t high = static_cast<uint64_t>(policy.dram_high_watermark *
                                                static_cast<double>(dram->spec.capacity_bytes));
    if (dram->Used() - dram->pending_free + dram->dram->AllocatedSize(obj.size) > high) continue;
    std::optional<uint64_t> offset = dram->dram->Allocate(obj.size);
    if (!offset) continue;
    Replica& copy = AddReplica(key, obj, dram, *offset, ReplicaState::kWriting);
    copy.busy = true;
    obj.replicas[idx].busy = true;  // AddReplica may have moved the vector
    QueueTask(node, MakeTask(NodeTask::Kind::kPromote, key, obj.size, *offset));
    return true;
  }
  return false;
}

void MasterCore::Impl::FinishPromotion(const BlockKey& key, Object& obj, Node* node, bool ok) {
  Segment* ssd = FindSegment(node->id, Tier::kSsd);
  Segment* dram = FindSegment(node->id, Tier::kDram);
  if (const int i = ssd ? FindReplica(obj, ssd) : -1; i >= 0) {
    obj.replicas[static_cast<size_t>(i)].busy = false;
  }
  const int d = dram ? FindReplica(obj, dram) : -1;
  if (d < 0) return;
  Replica& r = obj.replicas[static_cast<size_t>(d)];
  if (r.state != ReplicaState::kWriting || !r.busy) return;  // not ours
  if (!ok) {
    DropReplica(key, obj, static_cast<size_t>(d));
    EraseIfEmpty(key);
    return;
  }
  r.busy = false;
  r.state = ReplicaState::kComplete;
  QueueTask(node, MakeTask(NodeTask::Kind::kRecord, key, r.length, r.offset));
  promotions++;
  metrics.promotions.Increment();
}

}  // namespace kvc::store

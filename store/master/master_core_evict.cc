// MasterCore: watermark eviction, DRAM->SSD demotion, node task results and
// ChangeReplica (which works through node tasks too).
#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "store/master/master_core_impl.h"

namespace kvc::store {
namespace {

uint64_t Fraction(double f, uint64_t capacity) {
  return static_cast<uint64_t>(f * static_cast<double>(capacity));
}

}  // namespace

void MasterCore::Impl::EvictIfNeeded() {
  for (auto& [id, node] : nodes) {
    for (auto& [tier, seg] : node->segments) {
      const uint64_t cap = seg->spec.capacity_bytes;
      const bool dram = tier == Tier::kDram;
      const uint64_t high =
          Fraction(dram ? policy.dram_high_watermark : policy.ssd_high_watermark, cap);
      const uint64_t low =
          Fraction(dram ? policy.dram_low_watermark : policy.ssd_low_watermark, cap);
      if (seg->Used() - seg->pending_free > high) EvictSegment(seg.get(), low);
    }
  }
  PublishGauges();
}

void MasterCore::Impl::EvictSegment(Segment* seg, uint64_t target) {
  if (clock.Now() - started <= std::chrono::milliseconds(policy.lease_ms)) return;
  uint64_t effective = seg->Used() - seg->pending_free;
  std::vector<BlockKey> victims;
  uint32_t scanned = 0;
  // Approximate LRU: only the eviction_scan_limit least recently used replicas are
  // candidates; leased, in-flight and busy objects are skipped, never evicted.
  for (auto it = seg->lru.rbegin();
       it != seg->lru.rend() && effective > target && scanned < policy.eviction_scan_limit;
       ++it, ++scanned) {
    auto obj_it = objects.find(*it);
    if (obj_it == objects.end()) continue;
    const Object& obj = obj_it->second;
    const int idx = FindReplica(obj, seg);
    if (idx < 0 || !obj.complete || Leased(obj)) continue;
    const Replica& r = obj.replicas[static_cast<size_t>(idx)];
    if (r.busy || r.state != ReplicaState::kComplete) continue;
    victims.push_back(*it);
    effective -= std::min(effective, seg->dram ? seg->dram->AllocatedSize(r.length) : r.length);
  }
  for (const BlockKey& key : victims) {
    Object& obj = objects.find(key)->second;
    const size_t idx = static_cast<size_t>(FindReplica(obj, seg));
    evictions++;
    metrics.evictions.Increment();
    if (seg->dram && TryDemote(key, obj, idx)) continue;
    if (!seg->dram) {
      QueueTask(seg->node, MakeTask(NodeTask::Kind::kDropSsd, key, obj.size, 0));
    }
    DropReplica(key, obj, idx);
    EraseIfEmpty(key);
  }
}

bool MasterCore::Impl::TryDemote(const BlockKey& key, Object& obj, size_t idx) {
  Segment* dram = obj.replicas[idx].segment;
  auto ssd_it = dram->node->segments.find(Tier::kSsd);
  if (ssd_it == dram->node->segments.end()) return false;
  Segment* ssd = ssd_it->second.get();
  if (FindReplica(obj, ssd) >= 0) return false;  // already on this node's SSD: just drop
  const uint64_t limit = Fraction(policy.ssd_high_watermark, ssd->spec.capacity_bytes);
  if (ssd->used + obj.size > limit) return false;
  const uint64_t offset = obj.replicas[idx].offset;
  Replica& copy = AddReplica(key, obj, ssd, 0, ReplicaState::kWriting);
  copy.busy = true;
  Replica& src = obj.replicas[idx];  // AddReplica may have moved the vector
  src.busy = true;
  dram->pending_free += dram->dram->AllocatedSize(src.length);
  QueueTask(dram->node, MakeTask(NodeTask::Kind::kDemote, key, obj.size, offset));
  return true;
}

void MasterCore::Impl::ClearBusy(Replica& r) {
  if (r.busy && r.segment->dram && r.state == ReplicaState::kComplete) {
    Segment* seg = r.segment;
    seg->pending_free -= std::min(seg->pending_free, seg->dram->AllocatedSize(r.length));
  }
  r.busy = false;
}

void MasterCore::Impl::FinishDemotion(const BlockKey& key, Object& obj, Node* node, bool ok) {
  Segment* ssd = FindSegment(node->id, Tier::kSsd);
  Segment* dram = FindSegment(node->id, Tier::kDram);
  const int ssd_idx = ssd ? FindReplica(obj, ssd) : -1;
  if (ssd_idx >= 0) {
    Replica& copy = obj.replicas[static_cast<size_t>(ssd_idx)];
    if (ok) {
      copy.busy = false;
      copy.state = ReplicaState::kComplete;
      demotions++;
      metrics.demotions.Increment();
    } else {
      DropReplica(key, obj, static_cast<size_t>(ssd_idx));
    }
  }
  const int dram_idx = dram ? FindReplica(obj, dram) : -1;
  if (dram_idx >= 0) {
    ClearBusy(obj.replicas[static_cast<size_t>(dram_idx)]);
    // A reader leased the object while it was being copied: keep the DRAM copy
    // until a later eviction; it is dropped then (the SSD copy already exists).
    if (!Leased(obj)) DropReplica(key, obj, static_cast<size_t>(dram_idx));
  }
  EraseIfEmpty(key);
}

void MasterCore::Impl::ApplyTaskResult(const TaskResult& result) {
  auto it = in_flight.find(result.id);
  if (it == in_flight.end()) return;  // unknown, duplicate or timed out already
  const InFlightTask t = std::move(it->second);
  in_flight.erase(it);
  Node* node = FindNode(t.node_id);
  auto obj_it = objects.find(t.task.key);
  if (node == nullptr || obj_it == objects.end()) return;
  Object& obj = obj_it->second;
  if (t.task.kind == NodeTask::Kind::kDemote) {
    FinishDemotion(t.task.key, obj, node, result.ok);
  } else if (t.task.kind == NodeTask::Kind::kPromote) {
    FinishPromotion(t.task.key, obj, node, result.ok);
  } else if (t.task.kind == NodeTask::Kind::kReplicate) {
    Segment* seg = FindSegment(node->id, Tier::kDram);
    const int idx = seg ? FindReplica(obj, seg) : -1;
    if (idx < 0) return;
    Replica& r = obj.replicas[static_cast<size_t>(idx)];
    if (result.ok) {
      r.busy = false;
      r.state = ReplicaState::kComplete;
      QueueTask(node, MakeTask(NodeTask::Kind::kRecord, t.task.key, r.length, r.offset));
    } else {
      DropReplica(t.task.key, obj, static_cast<size_t>(idx));
      EraseIfEmpty(t.task.key);
    }
  }
}

void MasterCore::Impl::PublishRates() {
  const Clock::TimePoint now = clock.Now();
  const double seconds = ToSeconds(now - rates_since);
  if (seconds < 1.0) return;
  metrics.puts_per_second.Set(static_cast<double>(puts - rates_puts) / seconds);
  metrics.gets_per_second.Set(static_cast<double>(gets - rates_gets) / seconds);
  rates_since = now;
  rates_puts = puts;
  rates_gets = gets;
}

void MasterCore::Impl::PublishGauges() {
  metrics.objects.Set(static_cast<double>(objects.size()));
  metrics.dram_replicas.Set(static_cast<double>(dram_stats.replicas));
  metrics.ssd_replicas.Set(static_cast<double>(ssd_stats.replicas));
  metrics.dram_bytes.Set(static_cast<double>(dram_stats.bytes));
  metrics.ssd_bytes.Set(static_cast<double>(ssd_stats.bytes));
}

}  // namespace kvc::store

// MasterCore::Impl: replica bookkeeping shared by every operation.
#include <algorithm>

#include "store/master/master_core_impl.h"

namespace kvc::store {

const char* TierName(Tier tier) { return tier == Tier::kSsd ? "ssd" : "dram"; }

MasterCore::Impl::Metrics::Metrics(MetricsRegistry& r)
    : objects(r.GetGauge("kvc_store_objects", "Objects (keys) known to the master")),
      dram_replicas(r.GetGauge("kvc_store_replicas", "Replicas per tier", {{"tier", "dram"}})),
      ssd_replicas(r.GetGauge("kvc_store_replicas", "Replicas per tier", {{"tier", "ssd"}})),
      dram_bytes(r.GetGauge("kvc_store_bytes", "Bytes held per tier", {{"tier", "dram"}})),
      ssd_bytes(r.GetGauge("kvc_store_bytes", "Bytes held per tier", {{"tier", "ssd"}})),
      hits(r.GetCounter("kvc_store_get_hits_total", "Gets that found a complete object")),
      misses(r.GetCounter("kvc_store_get_misses_total", "Gets of unknown or unfinished keys")),
      evictions(r.GetCounter("kvc_store_evictions_total", "Replicas evicted by watermarks")),
      demotions(r.GetCounter("kvc_store_demotions_total", "DRAM replicas demoted to SSD")),
      promotions(r.GetCounter("kvc_store_promotions_total", "SSD replicas promoted to DRAM")),
      puts(r.GetCounter("kvc_store_puts_total", "Completed puts (PutEnd)")),
      gets(r.GetCounter("kvc_store_gets_total", "Get lookups (hits and misses)")),
      puts_per_second(r.GetGauge("kvc_store_puts_per_second",
                                 "Completed puts per second over the last >= 1 s")),
      gets_per_second(
          r.GetGauge("kvc_store_gets_per_second", "Get lookups per second over the last >= 1 s")),
      match_prefix_seconds(r.GetHistogram("kvc_store_match_prefix_seconds",
                                          "MatchPrefix latency inside the master",
                                          ExponentialBuckets(1e-6, 2.0, 20))),
      expired_nodes(
          r.GetCounter("kvc_store_expired_nodes_total",
                       "Nodes declared dead after store.node_timeout_ms without heartbeat")),
      expired_replicas(r.GetCounter("kvc_store_expired_replicas_total",
                                    "Replicas dropped because their node was declared dead")),
      replaced_suspect(r.GetCounter("kvc_store_replaced_replicas_total",
                                    "Replicas on suspect nodes replaced by a new put",
                                    {{"reason", "silent"}})),
      replaced_reported(r.GetCounter("kvc_store_replaced_replicas_total",
                                     "Replicas on suspect nodes replaced by a new put",
                                     {{"reason", "reported_unreachable"}})),
      unreachable_reports(r.GetCounter("kvc_store_unreachable_reports_total",
                                       "ReportUnreachable calls about known nodes")) {}

MasterCore::Replica& MasterCore::Impl::AddReplica(const BlockKey& key, Object& obj, Segment* seg,
                                                  uint64_t offset, ReplicaState state) {
  Replica r;
  r.segment = seg;
  r.offset = offset;
  r.length = obj.size;
  r.state = state;
  seg->lru.push_front(key);
  r.lru = seg->lru.begin();
  TierStats& stats = seg->spec.tier == Tier::kDram ? dram_stats : ssd_stats;
  stats.replicas++;
  stats.bytes += obj.size;
  if (seg->spec.tier == Tier::kSsd) seg->used += obj.size;
  obj.replicas.push_back(r);
  return obj.replicas.back();
}

void MasterCore::Impl::DropReplica(const BlockKey& key, Object& obj, size_t idx,
                                   Clock::TimePoint hold_range_until) {
  Replica& r = obj.replicas[idx];
  Segment* seg = r.segment;
  seg->lru.erase(r.lru);
  if (seg->dram && r.state == ReplicaState::kComplete) {
    QueueTask(seg->node, MakeTask(NodeTask::Kind::kForget, key, r.length, r.offset));
  }
  if (seg->dram && hold_range_until > clock.Now()) {
    seg->quarantine.emplace_back(hold_range_until, r.offset, r.length);
  } else if (seg->dram) {
    const uint64_t before = seg->dram->used_bytes();
    (void)seg->dram->Free(r.offset, r.length);
    const uint64_t released = before - seg->dram->used_bytes();
    if (r.busy && r.state == ReplicaState::kComplete) {
      seg->pending_free -= std::min(seg->pending_free, released);
    }
  } else {
    seg->used -= std::min(seg->used, r.length);
  }
  TierStats& stats = seg->spec.tier == Tier::kDram ? dram_stats : ssd_stats;
  stats.replicas--;
  stats.bytes -= r.length;
  obj.replicas.erase(obj.replicas.begin() + static_cast<long>(idx));
}

bool MasterCore::Impl::EraseIfEmpty(const BlockKey& key) {
  auto it = objects.find(key);
  if (it == objects.end() || !it->second.replicas.empty()) return false;
  writing.erase(key);
  objects.erase(it);
  return true;
}

void MasterCore::Impl::EraseObject(const BlockKey& key) {
  auto it = objects.find(key);
  if (it == objects.end()) return;
  Object& obj = it->second;
  for (size_t i = obj.replicas.size(); i-- > 0;) {
    Replica& r = obj.replicas[i];
    if (r.segment->spec.tier == Tier::kSsd && r.state == ReplicaState::kComplete) {
      QueueTask(r.segment->node, MakeTask(NodeTask::Kind::kDropSsd, key, r.length, 0));
    }
    DropReplica(key, obj, i);
  }
  EraseIfEmpty(key);
}

int MasterCore::Impl::FindReplica(const Object& obj, const Segment* seg) {
  for (size_t i = 0; i < obj.replicas.size(); ++i) {
    if (obj.replicas[i].segment == seg) return static_cast<int>(i);
  }
  return -1;
}

bool MasterCore::Impl::Busy(const Object& obj) const {
  return std::any_of(obj.replicas.begin(), obj.replicas.end(),
                     [](const Replica& r) { return r.busy || r.state != ReplicaState::kComplete; });
}

ReplicaView MasterCore::Impl::View(const Replica& r) const {
  const SegmentSpec& s = r.segment->spec;
  return ReplicaView{.node_id = s.node_id,
                     .hostname = s.hostname,
                     .tier = s.tier,
                     .transfer_segment = s.transfer_segment,
                     .rpc_address = s.rpc_address,
                     .offset = r.offset,
                     .base_address = s.base_address,
                     .length = r.length,
                     .state = r.state};
}

std::vector<MasterCore::Segment*> MasterCore::Impl::PlacementOrder(const std::string& preferred,
                                                                   uint64_t size) {
  std::vector<Segment*> order;
  for (auto& [id, node] : nodes) {
    auto it = node->segments.find(Tier::kDram);
    if (it == node->segments.end()) continue;
    if (it->second->dram->largest_free_range() < size) continue;
    order.push_back(it->second.get());
  }
  // Local first, then most free space first; node id breaks ties deterministically.
  std::sort(order.begin(), order.end(), [&](const Segment* a, const Segment* b) {
    const bool a_local = a->spec.node_id == preferred;
    const bool b_local = b->spec.node_id == preferred;
    if (a_local != b_local) return a_local;
    const uint64_t a_free = a->dram->free_bytes();
    const uint64_t b_free = b->dram->free_bytes();
    if (a_free != b_free) return a_free > b_free;
    return a->spec.node_id < b->spec.node_id;
  });
  return order;
}

}  // namespace kvc::store

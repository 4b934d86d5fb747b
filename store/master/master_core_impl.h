// Private state of MasterCore (see master_core.h). Every method here runs with
// MasterCore's mutex held (shared for the const ones, exclusive for the rest);
// none takes it.
#pragma once

#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "kvc/common/clock.h"
#include "kvc/common/metrics.h"
#include "kvc/store/master_options.h"
#include "store/master/master_core.h"
#include "store/master/master_types.h"
#include "store/master/range_allocator.h"

namespace kvc::store {

struct MasterCore::Node {
  std::string id;
  std::string hostname;
  Clock::TimePoint last_heartbeat;
  std::map<Tier, std::unique_ptr<Segment>> segments;
  std::vector<NodeTask> queued;       // tasks not yet handed out in a heartbeat reply
  int64_t load_window = 0;            // index of the current 1 s read-load window
  uint32_t reads_now = 0;             // replicas handed out in the current window
  uint32_t reads_before = 0;          // ... and in the previous one
  bool reported_unreachable = false;  // by a client since the last heartbeat (suspect)
};

struct MasterCore::Segment {
  Node* node = nullptr;
  SegmentSpec spec;
  std::unique_ptr<RangeAllocator> dram;  // DRAM: offsets; SSD: null (bytes only)
  uint64_t used = 0;                     // SSD: bytes held (DRAM: see Used())
  uint64_t pending_free = 0;             // held by replicas being demoted away
  std::list<BlockKey> lru;               // every replica on this segment, most recent first
  // DRAM ranges of replaced replicas kept allocated until a reader's lease ends:
  // (until, offset, length).
  std::vector<std::tuple<Clock::TimePoint, uint64_t, uint64_t>> quarantine;
  // Bytes held, including pending_free.
  uint64_t Used() const { return dram ? dram->used_bytes() : used; }
};

struct MasterCore::Replica {
  Segment* segment = nullptr;
  uint64_t offset = 0;
  uint64_t length = 0;
  ReplicaState state = ReplicaState::kWriting;
  bool busy = false;  // a node task (demote/replicate) works on it
  std::list<BlockKey>::iterator lru;
};

struct MasterCore::Object {
  uint64_t size = 0;
  bool complete = false;
  Clock::TimePoint put_started;
  Clock::TimePoint lease_until;
  std::vector<Replica> replicas;
  // Promotion: reads while SSD-only, counted from ssd_reads_since.
  uint32_t ssd_reads = 0;
  Clock::TimePoint ssd_reads_since;
};

struct MasterCore::Impl {
  struct InFlightTask {
    NodeTask task;
    std::string node_id;
    Clock::TimePoint issued;
  };
  struct Metrics {
    explicit Metrics(MetricsRegistry& r);
    Gauge& objects;
    Gauge& dram_replicas;
    Gauge& ssd_replicas;
    Gauge& dram_bytes;
    Gauge& ssd_bytes;
    Counter& hits;
    Counter& misses;
    Counter& evictions;
    Counter& demotions;
    Counter& promotions;
    Counter& puts;
    Counter& gets;
    Gauge& puts_per_second;
    Gauge& gets_per_second;
    Histogram& match_prefix_seconds;
    Counter& expired_nodes;
    Counter& expired_replicas;
    Counter& replaced_suspect;
    Counter& replaced_reported;
    Counter& unreachable_reports;
  };

  Impl(const MasterPolicyOptions& p, const Clock& c, MetricsRegistry& m)
      : policy(p), clock(c), metrics(m), started(c.Now()) {}

  // Nodes and segments (master_core_segments.cc).
  Node* FindNode(const std::string& id);
  Segment* FindSegment(const std::string& node_id, Tier tier);
  void DropSegmentReplicas(Segment* seg);
  void RemoveNode(const std::string& node_id);
  void ApplyTaskResult(const TaskResult& r);
  void QueueTask(Node* node, NodeTask task);
  static NodeTask MakeTask(NodeTask::Kind kind, const BlockKey& key, uint64_t size, uint64_t offset,
                           ReplicaView source = {});

  // Objects and replicas (master_core_objects.cc).
  Replica& AddReplica(const BlockKey& key, Object& obj, Segment* seg, uint64_t offset,
                      ReplicaState state);
  // Removes replica `idx` and releases its space (DRAM range or SSD bytes); a
  // DRAM range is kept allocated until `hold_range_until` when that is later
  // than now (Segment::quarantine).
  void DropReplica(const BlockKey& key, Object& obj, size_t idx,
                   Clock::TimePoint hold_range_until = {});
  // Erases `key` when it has no replicas left. Returns true when erased.
  bool EraseIfEmpty(const BlockKey& key);
  void EraseObject(const BlockKey& key);
  static int FindReplica(const Object& obj, const Segment* seg);
  ReplicaView View(const Replica& r) const;
  bool Leased(const Object& obj) const { return obj.lease_until > clock.Now(); }
  bool Busy(const Object& obj) const;
  // Read load of a node: replicas handed out in the current and previous second.
  static uint32_t ReadLoad(Node& node, int64_t window);
  std::vector<Segment*> PlacementOrder(const std::string& preferred, uint64_t size);
  // Suspect nodes and replacing what only they hold (master_core_suspect.cc).
  bool Suspect(const Node& node) const;
  // True when `obj` is complete, has replicas, none busy, all on suspect nodes.
  bool Replaceable(const Object& obj) const;
  // Drops every replica of `key` (Replaceable) and the object.
  void Replace(const BlockKey& key);
  void ReleaseQuarantine();
  // Declares silent nodes dead; returns what it dropped.
  std::vector<ExpiredNode> ExpireNodes();

  // Eviction (master_core_evict.cc).
  void EvictIfNeeded();
  void PublishGauges();
  // Every >= 1 s (called from Tick): puts/gets per second since the last update.
  void PublishRates();
  // Evicts approximately-LRU objects of `seg` until its usage is <= target bytes.
  void EvictSegment(Segment* seg, uint64_t target);
  bool TryDemote(const BlockKey& key, Object& obj, size_t idx);
  void FinishDemotion(const BlockKey& key, Object& obj, Node* node, bool ok);
  // Clears `busy`, returning a demotion source's pending bytes.
  void ClearBusy(Replica& r);
  // Promotion of hot SSD-only objects (master_core_promote.cc).
  // Counts a read of `obj`; at store.promote_after_reads asks for a promotion.
  void CountRead(const BlockKey& key, Object& obj);
  bool TryPromote(const BlockKey& key, Object& obj);
  void FinishPromotion(const BlockKey& key, Object& obj, Node* node, bool ok);
  // OK, or UNAVAILABLE "TAKEOVER_GRACE" while FenceAllocations holds (`op` names the call).
  Status CheckFence(const char* op) const;
  // ChangeReplica halves (master_core_replicas.cc).
  Status AddReplicas(const BlockKey& key, Object& obj, uint32_t count);
  Status DropReplicas(const BlockKey& key, Object& obj, uint32_t count);

  // Held by every public MasterCore method: exclusively by those that change
  // anything (Get too: it grants a lease and touches the LRU), shared by the
  // read-only MatchPrefix, Exists, BatchExists and Stats, so concurrent prefix
  // matches (every conductor request makes one) do not queue behind each other.
  mutable std::shared_mutex mu;
  const MasterPolicyOptions policy;
  const Clock& clock;
  Metrics metrics;
  // A restarted master knows no leases: it evicts nothing for one lease period,
  // so leases granted by its predecessor still hold.
  const Clock::TimePoint started;
  // No DRAM range is handed out before this (FenceAllocations).
  Clock::TimePoint alloc_fence{};
  std::map<std::string, std::unique_ptr<Node>> nodes;
  std::unordered_map<BlockKey, Object, BlockKeyHash> objects;
  std::unordered_map<BlockKey, Clock::TimePoint, BlockKeyHash> writing;  // started puts
  std::map<uint64_t, InFlightTask> in_flight;
  uint64_t next_task_id = 1;
  uint64_t hits = 0, misses = 0, evictions = 0, demotions = 0, promotions = 0, puts = 0, gets = 0;
  TierStats dram_stats, ssd_stats;
  Clock::TimePoint rates_since = started;   // PublishRates window start
  uint64_t rates_puts = 0, rates_gets = 0;  // puts/gets at rates_since
};

}  // namespace kvc::store

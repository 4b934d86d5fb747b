// MasterCore: the store master's metadata, as a pure library. It knows which node
// holds which block (replicas, tier, location, state), allocates space for puts,
// grants read leases, answers prefix matches, detects dead nodes and evicts. It
// never touches block data and does no I/O: time comes from the injected Clock,
// work for nodes leaves through heartbeat replies (NodeTask).
//
// Thread-safe: every public method takes one internal reader/writer mutex,
// shared by the read-only MatchPrefix, Exists, BatchExists and Stats. Errors carry a
// stable reason (kvc::ReasonOf): INVALID_ARGUMENT family "BAD_SIZE", "BAD_KEYS",
// "BAD_REPLICAS", "UNKNOWN_SEGMENT"; NOT_FOUND "NOT_FOUND", "PUT_NOT_STARTED";
// ALREADY_EXISTS "OBJECT_EXISTS", "PUT_IN_PROGRESS", "SEGMENT_EXISTS";
// RESOURCE_EXHAUSTED "NO_SPACE"; FAILED_PRECONDITION "LEASED", "NOT_COMPLETE";
// NOT_FOUND "UNKNOWN_NODE";
// UNAVAILABLE "TAKEOVER_GRACE" (see FenceAllocations).
#pragma once

#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "kvc/common/clock.h"
#include "kvc/common/metrics.h"
#include "kvc/common/status.h"
#include "kvc/store/master_options.h"
#include "store/master/master_types.h"
#include "store/master/range_allocator.h"

namespace kvc::store {

class MasterCore {
 public:
  // `clock` and `metrics` are borrowed and must outlive the core.
  // REQUIRES: ValidateMasterPolicy(policy).ok().
  MasterCore(const MasterPolicyOptions& policy, const Clock& clock, MetricsRegistry& metrics);
  ~MasterCore();
  MasterCore(const MasterCore&) = delete;
  MasterCore& operator=(const MasterCore&) = delete;

  // --- Segments and nodes --------------------------------------------------
  // Adds a segment; also counts as a heartbeat of its node. Mounting the same
  // (node, tier) again with the same capacity is a no-op (re-registration);
  // another capacity is ALREADY_EXISTS "SEGMENT_EXISTS".
  [[nodiscard]] Status MountSegment(const SegmentSpec& spec);
  // Removes a segment and every replica on it (objects left without replicas go).
  [[nodiscard]] Status UnmountSegment(const std::string& node_id, Tier tier);
  // Records that `node_id` is alive, applies `done` task results and returns new
  // tasks. An unknown node gets reregister = true (master restarted or declared
  // it dead): it must mount again and ReportReplicas.
  HeartbeatReply Heartbeat(const std::string& node_id, std::span<const TaskResult> done);
  // A client could not reach `node_id` (a transfer from one of its replicas
  // failed): the node is suspect until its next heartbeat (see PutStart).
  // NOT_FOUND "UNKNOWN_NODE" for a node the master does not know (nothing changes).
  [[nodiscard]] Status ReportUnreachable(const std::string& node_id);
  // Re-registration: the node still holds these COMPLETE replicas on `tier`.
  // Returns the keys refused (unknown segment, bad bounds, size conflicting with
  // the known object, overlapping space); the node should drop those.
  StatusOr<std::vector<BlockKey>> ReportReplicas(const std::string& node_id, Tier tier,
                                                 std::span<const ReportedReplica> replicas);

  // --- Two-phase put -------------------------------------------------------
  // Allocates `replicas` (0 = default) DRAM copies of `size` bytes on distinct
  // nodes: `preferred_node` first when it has room, then most free space first.
  // Fewer nodes than asked for is fine as long as one copy fits; none fits is
  // RESOURCE_EXHAUSTED "NO_SPACE" (after trying eviction). The object stays
  // invisible to Get until PutEnd, and is reclaimed after put_timeout_ms.
  // A complete key is ALREADY_EXISTS "OBJECT_EXISTS", unless every replica of it
  // is on a suspect node (silent for store.node_suspect_ms, or reported by
  // ReportUnreachable) and none is busy: then those replicas are dropped
  // (counted in kvc_store_replaced_replicas_total) and the put starts afresh, so
  // the caller that recomputed the blocks can store them. A dropped replica's
  // DRAM range is not handed out again before its read lease ends.
  StatusOr<std::vector<ReplicaView>> PutStart(const BlockKey& key, uint64_t size, uint32_t replicas,
                                              const std::string& preferred_node);
  // Makes a started put visible. NOT_FOUND "PUT_NOT_STARTED" without PutStart;
  // FAILED_PRECONDITION when already complete.
  [[nodiscard]] Status PutEnd(const BlockKey& key);
  // Abandons a started put and frees its space.
  [[nodiscard]] Status PutRevoke(const BlockKey& key);

  // --- Reads ---------------------------------------------------------------
  // Replicas of a complete object plus a read lease (no eviction, no removal
  // until it expires). Marks the object recently used. NOT_FOUND for unknown
  // keys and for puts not yet ended.
  StatusOr<GetResult> Get(const BlockKey& key, const std::string& reader_node);
  // Get for each key, in order; a missing key is a NOT_FOUND entry, not an error.
  // The call fails only when keys exceed max_batch_keys.
  StatusOr<std::vector<StatusOr<GetResult>>> BatchGet(std::span<const BlockKey> keys,
                                                      const std::string& reader_node);
  bool Exists(const BlockKey& key) const;
  StatusOr<std::vector<bool>> BatchExists(std::span<const BlockKey> keys) const;
  // For each node, how many leading keys of `keys` it holds complete (any tier),
  // and the best node. Empty keys give an empty answer.
  StatusOr<PrefixMatch> MatchPrefix(std::span<const BlockKey> keys) const;

  // --- Mutations ----------------------------------------------------------
  // Removes an object. FAILED_PRECONDITION "LEASED" while a read lease runs,
  // "NOT_COMPLETE" while it is being written (use PutRevoke).
  [[nodiscard]] Status Remove(const BlockKey& key);
  // Sets the number of DRAM replicas to n (1..max_replicas). Adding allocates on
  // new nodes and asks them (NodeTask kReplicate) to copy from an existing
  // replica; the new replicas are WRITING until the copy is acknowledged.
  // Dropping refuses while leased. Returns the replicas after the change.
  StatusOr<std::vector<ReplicaView>> ChangeReplica(const BlockKey& key, uint32_t n);

  // --- Take-over fence ----------------------------------------------------
  // Until `until`, hands out no DRAM range: PutStart and a growing ChangeReplica
  // fail UNAVAILABLE "TAKEOVER_GRACE" (nothing changes), promotions wait. A master
  // that takes over from another (etcd take-over, restart) calls this because it
  // cannot know which ranges its predecessor granted: a client or node may still
  // be writing into one (writes go through the transfer engine, straight into node
  // memory), and handing that range out again would let the late write corrupt
  // the new object. Reads, MatchPrefix, re-registration and removal proceed.
  void FenceAllocations(Clock::TimePoint until);

  // --- Housekeeping -------------------------------------------------------
  // Declares silent nodes dead (counted in kvc_store_expired_nodes_total and
  // kvc_store_expired_replicas_total, and returned for the caller to log),
  // reclaims abandoned puts and timed-out tasks, releases DRAM ranges of
  // replaced replicas whose lease ended, evicts segments above their high
  // watermark. Call periodically.
  TickReport Tick();
  MasterStats Stats() const;
  // DRAM allocator fragmentation of a segment (0..1), for the metrics/tests.
  StatusOr<double> Fragmentation(const std::string& node_id) const;

 private:
  friend struct Impl;
  struct Node;
  struct Segment;
  struct Replica;
  struct Object;
  struct Impl;
  struct GetContext;
  GetContext MakeGetContext(const std::string& reader_node);                  // REQUIRES: mu held
  StatusOr<GetResult> GetLocked(const BlockKey& key, const GetContext& ctx);  // REQUIRES: mu held
  std::unique_ptr<Impl> impl_;
};

}  // namespace kvc::store

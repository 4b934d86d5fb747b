// Plain types of the store master's metadata core (see master_core.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "kvc/common/block_hash.h"
#include "kvc/common/clock.h"

namespace kvc::store {

enum class Tier { kDram = 1, kSsd = 2 };
const char* TierName(Tier tier);  // "dram" | "ssd"

enum class ReplicaState { kWriting = 1, kComplete = 2 };

// What a node mounts: one segment per (node, tier).
struct SegmentSpec {
  std::string node_id;
  std::string hostname;
  Tier tier = Tier::kDram;
  uint64_t capacity_bytes = 0;
  std::string transfer_segment;  // transfer-engine segment name holding DRAM data
  std::string rpc_address;       // the node's segment server (staging, SSD reads)
  uint64_t base_address = 0;     // transfer address of byte 0 of a DRAM segment
};

// One copy of an object as clients see it. For DRAM, [offset, offset+length) lies
// in `transfer_segment`; for SSD the bytes live in the node's RocksDB under the key
// and must be staged through `rpc_address` before a transfer.
struct ReplicaView {
  std::string node_id;
  std::string hostname;
  Tier tier = Tier::kDram;
  std::string transfer_segment;
  std::string rpc_address;
  uint64_t offset = 0;        // relative to the segment; transfer address = base + offset
  uint64_t base_address = 0;  // of the segment (DRAM)
  uint64_t length = 0;
  ReplicaState state = ReplicaState::kWriting;
};

struct GetResult {
  uint64_t size = 0;
  std::vector<ReplicaView> replicas;  // same host first, DRAM before SSD, then least loaded
  int64_t lease_expires_unix_ms = 0;  // the reader must finish its transfer before this
};

struct NodeMatch {
  std::string node_id;
  uint32_t matched_blocks = 0;
};
struct PrefixMatch {
  std::vector<NodeMatch> nodes;  // every node holding at least the first key
  std::string best_node_id;      // "" when no node holds the first key
  uint32_t best_matched_blocks = 0;
};

// Work the master asks a node to do on its own data; delivered with the heartbeat
// reply, acknowledged in a later heartbeat.
struct NodeTask {
  enum class Kind {
    kDemote = 1,     // copy DRAM [offset, offset+size) into the SSD tier under key
    kDropSsd = 2,    // delete key from the SSD tier
    kReplicate = 3,  // read size bytes from source into own DRAM at offset
    kRecord = 4,     // key is now complete in own DRAM at offset (no ack needed)
    kForget = 5,     // key no longer lives in own DRAM (no ack needed)
    kPromote = 6,    // read key from own SSD tier into own DRAM at offset
  };
  bool NeedsAck() const {
    return kind == Kind::kDemote || kind == Kind::kReplicate || kind == Kind::kPromote;
  }
  uint64_t id = 0;
  Kind kind = Kind::kDemote;
  BlockKey key;
  uint64_t size = 0;
  uint64_t offset = 0;  // own DRAM offset (demote source, replicate/promote destination)
  ReplicaView source;   // kReplicate only
};
struct TaskResult {
  uint64_t id = 0;
  bool ok = false;
};

// A replica a node reports after (re-)registering.
struct ReportedReplica {
  BlockKey key;
  uint64_t size = 0;
  uint64_t offset = 0;  // DRAM only
};

struct HeartbeatReply {
  bool reregister = false;  // master does not know this node: mount again and report
  std::vector<NodeTask> tasks;
};

// Point-in-time counts, also exported as metrics.
struct TierStats {
  uint64_t replicas = 0;
  uint64_t bytes = 0;
  uint64_t capacity_bytes = 0;
};
struct MasterStats {
  uint64_t objects = 0;
  uint64_t nodes = 0;
  TierStats dram;
  TierStats ssd;
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t evictions = 0;
  uint64_t demotions = 0;
  uint64_t promotions = 0;
  uint64_t puts = 0;
  uint64_t gets = 0;
  uint64_t queued_tasks = 0;  // node tasks not yet handed out in a heartbeat reply
};

// A node the master declared dead in a Tick (no heartbeat for store.node_timeout_ms).
struct ExpiredNode {
  std::string node_id;
  std::string hostname;
  uint64_t dropped_replicas = 0;  // replicas it held, gone with it
  uint64_t silent_ms = 0;         // time since its last heartbeat
};
// What a Tick did that its caller should log.
struct TickReport {
  std::vector<ExpiredNode> expired_nodes;
};

}  // namespace kvc::store

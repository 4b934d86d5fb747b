// PrefixMatcher: asks kvc-master which store nodes hold the longest leading run
// of a request's block keys. Metadata only: one MatchPrefix RPC per call, no
// transfer engine, no data path. The conductor's view of the KV pool; every
// StoreClient is one too.
//
//   auto matcher = CreatePrefixMatcher(options);
//   KVC_ASSIGN_OR_RETURN(StorePrefixMatch m, (*matcher)->MatchPrefix(keys));
//
// Errors: UNAVAILABLE (reason NO_LEADER: no master known; or the master is
// unreachable), DEADLINE_EXCEEDED after rpc_timeout_ms.
//
// Thread-safe: many threads may share one matcher.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "kvc/common/block_hash.h"
#include "kvc/common/status.h"

namespace kvc::store {

// How a client finds and calls kvc-master (the metadata half of StoreClientOptions).
struct MasterClientOptions {
  std::string master_address = "127.0.0.1:50052";  // kvc-master gRPC address (no etcd)
  // etcd HA: find the elected master under "<etcd_prefix>/leader" instead of
  // master_address, and look again when the master stops answering.
  std::string etcd_endpoints;  // "http://127.0.0.1:2379[,...]"; "" = master_address
  std::string etcd_prefix = "/kvc/master";
  std::string node_id;             // this process's node id: local-first placement, same-host reads
  uint32_t rpc_timeout_ms = 3000;  // deadline of each master/node RPC
  // Sent as "authorization: Bearer" on every master and store-node call ("" = none).
  std::string cluster_token;
};

// A node's prefix match: how many leading keys of a request it holds.
struct StorePrefixMatch {
  std::vector<std::pair<std::string, uint32_t>> nodes;  // best first
  std::string best_node_id;
  uint32_t best_matched_blocks = 0;
};

class PrefixMatcher {
 public:
  virtual ~PrefixMatcher() = default;
  // Per node, how many leading keys of `keys` it holds (best first); empty when none.
  virtual StatusOr<StorePrefixMatch> MatchPrefix(std::span<const BlockKey> keys) = 0;
};

// INVALID_ARGUMENT when neither master_address nor etcd_endpoints is set. Does
// not contact the master (a master that is down is found on the first call).
[[nodiscard]] StatusOr<std::unique_ptr<PrefixMatcher>> CreatePrefixMatcher(
    const MasterClientOptions& options);

}  // namespace kvc::store

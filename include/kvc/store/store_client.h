// StoreClient: put and get KV blocks in the cluster-wide pool. Metadata goes to
// kvc-master (one round trip per call, or per batch); bytes move only through
// the transfer engine, zero-copy between the caller's registered memory and the
// nodes' DRAM segments. SSD-only values are staged by their node first.
//
//   auto client = StoreClient::Create(options, engine);
//   KVC_RETURN_IF_ERROR((*client)->Put(key, buf, n));       // buf registered with engine
//   KVC_ASSIGN_OR_RETURN(uint64_t got, (*client)->Get(key, buf, cap));
//
// Errors (kvc::ReasonOf): NOT_FOUND (unknown key), LEASE_EXPIRED (the transfer
// outlived the read lease; the bytes may be stale, retry), NO_SPACE (pool full of
// in-use data), NODE_UNREACHABLE (every replica failed), BAD_SIZE (zero, oversize
// or a buffer too small), UNAVAILABLE (master unreachable).
//
// Buffers after a timeout: a transfer still pending at transfer_timeout_ms is
// abandoned, not cancelled; the engine keeps using the caller's buffer until it
// gives up on those slices (transfer.peer_timeout_ms per attempt). After a
// DEADLINE_EXCEEDED put or get, keep the buffer registered and unchanged that
// long before reusing or freeing it.
//
// Thread-safe: many threads may share one client.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "kvc/common/block_hash.h"
#include "kvc/common/status.h"
#include "kvc/store/prefix_matcher.h"
#include "kvc/transfer/transfer_engine.h"

namespace kvc::store {

// The master fields (address, etcd, node id, rpc timeout, token) are in
// MasterClientOptions (kvc/store/prefix_matcher.h).
struct StoreClientOptions : MasterClientOptions {
  uint32_t replicas = 1;                // copies per put (0 = master default)
  uint32_t transfer_timeout_ms = 5000;  // deadline of each batch of transfers
  // Reuse a Get's replica list without asking the master again while its read
  // lease has more than lease_margin_ms left (the lease guarantees the bytes stay
  // put). Saves the master round trip for hot keys; a failed read drops the entry
  // and asks the master. false = one master round trip per Get/BatchGet.
  bool lease_cache = true;
  uint32_t lease_margin_ms = 1000;
  // etcd mode: a put that failed because the master changed under it (the new
  // leader never saw its PutStart, or the old one stopped answering) is retried
  // once against the new leader; that retry's PutStart is repeated for up to this
  // long while no leader answers or its nodes have not re-registered (NO_SPACE).
  // 0 = no retry. Unused without etcd.
  uint32_t takeover_retry_ms = 5000;
};

struct PutItem {
  BlockKey key;
  const void* data = nullptr;  // registered with the engine, size bytes
  uint64_t size = 0;
};
struct GetItem {
  BlockKey key;
  void* buffer = nullptr;  // registered with the engine, capacity bytes
  uint64_t capacity = 0;
};

class StoreClient : public PrefixMatcher {
 public:
  // `engine` is borrowed and must outlive the client. Does not contact the master.
  static StatusOr<std::unique_ptr<StoreClient>> Create(const StoreClientOptions& options,
                                                       transfer::TransferEngine& engine);
  virtual ~StoreClient() = default;

  // Stores `size` bytes at `data` under `key`: PutStart, write every replica,
  // PutEnd (PutRevoke when a write fails). ALREADY_EXISTS when the key exists.
  [[nodiscard]] virtual Status Put(const BlockKey& key, const void* data, uint64_t size) = 0;
  // Reads the value of `key` into `buffer`; returns its size. Falls back to the
  // next replica when one fails. A replica whose transfer failed because its node
  // could not be reached (UNAVAILABLE / DEADLINE_EXCEEDED) is reported to the
  // master (ReportUnreachable) once per call, so a later put of the key may
  // replace it.
  virtual StatusOr<uint64_t> Get(const BlockKey& key, void* buffer, uint64_t capacity) = 0;
  // Put of every item with one PutStart per item and the writes in one batch.
  virtual std::vector<Status> BatchPut(std::span<const PutItem> items) = 0;
  // Get of every item with ONE master round trip (BatchGet; none for keys whose
  // lease is cached) and the reads in one batch.
  virtual std::vector<StatusOr<uint64_t>> BatchGet(std::span<const GetItem> items) = 0;
  virtual StatusOr<bool> Exists(const BlockKey& key) = 0;
  virtual StatusOr<std::vector<bool>> BatchExists(std::span<const BlockKey> keys) = 0;
  [[nodiscard]] virtual Status Remove(const BlockKey& key) = 0;
  // Tells the master that `node_id` could not be reached (`reason` goes to its
  // log): the node is suspect until its next heartbeat. NOT_FOUND
  // "UNKNOWN_NODE" when the master does not know it.
  [[nodiscard]] virtual Status ReportUnreachable(const std::string& node_id,
                                                 const std::string& reason) = 0;
};

}  // namespace kvc::store

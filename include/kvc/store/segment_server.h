// SegmentServer: the part of a node that contributes memory to the KV pool. It
// owns a DRAM region registered with the transfer engine (peers read and write it
// directly; the master hands out offsets in it), an optional SSD tier (RocksDB),
// and a staging area through which SSD-only blocks are read. It mounts its
// segments with the master, heartbeats, carries out the master's node tasks
// (demote to SSD, drop from SSD, replicate from a peer, record/forget contents)
// and, when the master has forgotten it (master restart), mounts again and
// reports what it still holds. Embedded in kvc-store and in every worker node (kvc_worker).
//
// Thread-safe. The StoreNode gRPC service it returns must be registered in the
// node's server; Run() starts the heartbeat thread.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>

#include "kvc/common/status.h"
#include "kvc/transfer/transfer_engine.h"

namespace kvc::store {

struct SegmentServerOptions {
  std::string node_id;   // stable id; SSD contents are re-reported under it
  std::string hostname;  // "" = HostName()
  std::string master_address = "127.0.0.1:50052";  // kvc-master gRPC address (no etcd)
  std::string etcd_endpoints;  // etcd HA: find the elected master there ("" = master_address)
  std::string etcd_prefix = "/kvc/master";
  uint64_t dram_bytes = 256ull << 20;  // DRAM contributed to the pool
  uint64_t staging_bytes =
      64ull << 20;                  // DRAM for staging SSD reads (per concurrent reader: one value)
  std::string ssd_path;             // RocksDB directory of the SSD tier; "" = no SSD tier
  uint64_t ssd_bytes = 1ull << 30;  // SSD capacity announced to the master
  uint32_t rpc_timeout_ms = 3000;   // deadline of every master RPC
  uint32_t heartbeat_interval_ms = 1000;  // until the master announces its own
  uint32_t staging_ttl_ms = 10000;        // a staged value not unstaged is freed after this
  uint32_t transfer_timeout_ms = 5000;    // replicate tasks: deadline of the copy
  // Sent as "authorization: Bearer" on every master call ("" = none). The embedding
  // binary also requires it on service() (kvc/rpc/service_auth.h).
  std::string cluster_token;
  // Allocate the DRAM and staging regions with the engine's AllocateSharedMemory
  // so same-host peers (clients, other nodes) read and write them with memcpy
  // through a shared mapping; falls back to private memory when the engine has
  // none. false = private memory (peers use cross-memory attach on this host).
  bool shared_memory = true;
};

class SegmentServer {
 public:
  // Allocates and registers the DRAM and staging regions with `engine` (borrowed,
  // must outlive the server) and publishes the segment; opens the SSD tier.
  // Contacts nobody yet. Errors name the option (dram_bytes, ssd_path, ...).
  static StatusOr<std::unique_ptr<SegmentServer>> Create(const SegmentServerOptions& options,
                                                         transfer::TransferEngine& engine);
  virtual ~SegmentServer() = default;

  // The kvc.v1.StoreNode service (Stage/Unstage); owned by the server.
  virtual grpc::Service* service() = 0;
  // Starts heartbeating; `rpc_address` is where service() is reachable. Mounting
  // happens in the heartbeat thread and is retried until the master answers.
  virtual void Run(const std::string& rpc_address) = 0;
  // Stops heartbeating. With `unmount`, tells the master to drop this node's
  // segments first (graceful leave); without it the master notices the silence.
  virtual void Stop(bool unmount) = 0;
  // True once the segments are mounted with the current master.
  virtual bool registered() const = 0;
};

}  // namespace kvc::store

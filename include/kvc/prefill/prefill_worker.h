// PrefillWorker: the prefill role's service. For each request (queued FIFO, one
// engine thread): loads the reusable prefix blocks from the KV pool straight into
// the engine's cache blocks (StoreClient::BatchGet, one master round trip; local
// replicas first, else read from the holder through the transfer engine), computes
// the rest in chunks, writes each layer's KV into the decode node's reserved memory
// as soon as the layer is done (the transfer overlaps the next layer's compute),
// waits for the writes, samples and returns the first token, then hands the new
// full blocks to the pool (BatchPut) in the background without delaying the reply.
//
// Contract with kvc-decode and kvc-conductor: proto/kvc/v1/prefill.proto,
// decode.proto and docs/serving.md.
//
// Thread-safe: the gRPC service may be called from many threads.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <memory>
#include <string>

#include "kvc/common/config.h"
#include "kvc/common/status.h"
#include "kvc/engine/engine.h"
#include "kvc/store/store_client.h"
#include "kvc/transfer/transfer_engine.h"
#include "kvc/v1/common.pb.h"

namespace kvc::prefill {

struct PrefillWorkerOptions {
  std::string model_id;         // served model id (block keys are chained from it)
  uint32_t chunk_tokens = 512;  // default chunk size when a request says 0
  uint32_t max_queue = 1024;    // queued requests beyond this are refused (RESOURCE_EXHAUSTED)
  uint32_t transfer_timeout_ms = 5000;  // deadline for the KV writes to the decode node
  bool store_blocks = true;             // put new full blocks into the pool
  uint32_t max_pending_puts = 4;  // requests whose blocks wait for BatchPut; more are not stored
  // This node's id: a prefix block whose holder_node_id differs counts as fetched
  // (PrefillResponse.fetched_tokens). "" = every loaded block counts as fetched.
  std::string node_id;
};
void BindPrefillWorkerOptions(OptionSet& set, PrefillWorkerOptions* options);
[[nodiscard]] Status ValidatePrefillWorkerOptions(const PrefillWorkerOptions& options);

class PrefillWorker {
 public:
  // `engine` and `transfer` are borrowed and must outlive the worker; the engine's
  // cache arena must already be registered with `transfer`. `store` (borrowed) may be
  // null: then nothing is loaded from or put into the pool.
  static StatusOr<std::unique_ptr<PrefillWorker>> Create(const PrefillWorkerOptions& options,
                                                         engine::Engine& engine,
                                                         transfer::TransferEngine& transfer,
                                                         store::StoreClient* store);
  virtual ~PrefillWorker() = default;

  // The kvc.v1.Prefill service; owned by the worker.
  virtual grpc::Service* service() = 0;
  // Current load for heartbeats (queued requests and prompt tokens, running,
  // free/total KV blocks, measured prefill tokens/s).
  virtual v1::NodeLoad Load() const = 0;
  // Fails queued requests with UNAVAILABLE, finishes or cancels the running one,
  // stops the engine thread, waits for background puts. Idempotent.
  virtual void Shutdown() = 0;
};

}  // namespace kvc::prefill

// DecodeWorker: the decode role's service. Reserve allocates paged KV blocks in the
// engine's cache for a whole request and returns where the prefill node must write
// the prompt's KV (the cache arena is registered with the transfer engine, so the
// prefill node writes blocks in place: no staging copy). Decode claims the
// reservation, joins one continuous batch driven by a single engine thread, and
// streams tokens. Memory is freed on finish, cancel, client disconnect, error, or
// when a reservation is never claimed (TTL). When memory is short Reserve refuses
// (RESOURCE_EXHAUSTED, reason NO_KV_SPACE) instead of crashing.
//
// Contract with kvc-prefill and kvc-conductor: proto/kvc/v1/decode.proto,
// prefill.proto and docs/serving.md.
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
#include "kvc/transfer/transfer_engine.h"
#include "kvc/v1/common.pb.h"

namespace kvc::decode {

struct DecodeWorkerOptions {
  uint32_t max_batch = 256;                  // most requests decoding at once
  uint32_t reservation_ttl_ms = 30000;       // an unclaimed reservation is freed after this
  uint32_t tokens_per_message = 1;           // tokens per stream message (1 = lowest latency)
  uint32_t stream_write_timeout_ms = 10000;  // a stream whose reader stalls this long is cancelled
  // The KV blocks of a reservation freed before its Decode call (TTL expiry, Cancel)
  // stay out of the free pool this long, because a prefill node may still be writing
  // into them. Must exceed the prefill nodes' prefill.transfer_timeout_ms (5000 by
  // default); 0 turns the quarantine off (only safe when no write can arrive late).
  uint32_t kv_quarantine_ms = 10000;
  // One client (ReserveRequest.client_id: the conductor's API key index or client
  // address) may hold at most this percentage of the node's KV blocks in quarantine:
  // while it holds some, a Reserve that would take it over is refused (NO_KV_SPACE),
  // so a client that reserves and walks away cannot starve the others. 100 = no bound.
  uint32_t kv_quarantine_client_percent = 25;
  // A claimed request waiting for a batch slot gets an empty stream message this often,
  // so the conductor's stream idle timeout (30 s) only fires on a hung node.
  uint32_t queued_keepalive_ms = 5000;
};
// Binds the fields under their own names (max_batch, reservation_ttl_ms, ...: flags
// --max-batch etc.).
void BindDecodeWorkerOptions(OptionSet& set, DecodeWorkerOptions* options);
// Checks ranges; the message names the field.
[[nodiscard]] Status ValidateDecodeWorkerOptions(const DecodeWorkerOptions& options);

class DecodeWorker {
 public:
  // `engine` and `transfer` are borrowed and must outlive the worker. The engine's
  // cache arena must already be registered with `transfer` (remote accessible) and
  // the segment published; descriptors name transfer.LocalSegment().name.
  // Starts the engine thread.
  static StatusOr<std::unique_ptr<DecodeWorker>> Create(const DecodeWorkerOptions& options,
                                                        engine::Engine& engine,
                                                        transfer::TransferEngine& transfer);
  virtual ~DecodeWorker() = default;  // stops the engine thread, ends every stream

  // The kvc.v1.Decode service; owned by the worker.
  virtual grpc::Service* service() = 0;
  // Current load for heartbeats (running, queued, free/total KV blocks, measured
  // decode tokens/s).
  virtual v1::NodeLoad Load() const = 0;
  // Ends every stream with UNAVAILABLE and stops the engine thread. Idempotent.
  virtual void Shutdown() = 0;
};

}  // namespace kvc::decode

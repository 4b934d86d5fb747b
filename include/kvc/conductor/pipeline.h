// The conductor's generation pipeline (docs/serving.md, "Conductor"): for each request
//   1. chat template + tokenize, chained block keys, one PrefixMatcher::MatchPrefix;
//   2. placement (Placer → Algorithm-1 Scheduler) or early rejection;
//   3. decode Reserve (the next decode node on NO_KV_SPACE);
//   4. prefill Prefill → first token;
//   5. decode Decode stream → tokens → text (stop strings cut here);
// with one retry on another node when a node fails before the first token, and
// Cancel on both workers when the client goes away.
//
// No thread is held per request: the blocking steps (1-2) run on a small fixed pool,
// the worker RPCs use gRPC's callback API (unary callbacks, a ClientReadReactor for
// the Decode stream). Results go to a GenerationSink (HTTP SSE, gRPC Generate).
//
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kvc/common/clock.h"
#include "kvc/common/status.h"
#include "kvc/conductor/admin_service.h"
#include "kvc/conductor/openai_api.h"
#include "kvc/conductor/placer.h"
#include "kvc/conductor/served_model.h"
#include "kvc/store/prefix_matcher.h"

namespace kvc::conductor {

struct PipelineOptions {
  std::string cluster_token;          // sent as "authorization: Bearer" on every worker RPC
  uint32_t block_tokens = 16;         // KV block size of the cluster
  uint32_t default_max_tokens = 256;  // when a request sets none (0 = rest of the context)
  uint32_t rpc_timeout_ms = 3000;     // Reserve, Cancel
  uint32_t prefill_timeout_ms = 60000;
  uint32_t request_timeout_ms = 600000;  // the whole request (bounds the Decode stream)
  // A Decode stream that brings no message for this long (a hung decode node that keeps
  // its socket open) is cancelled: the client gets DECODE_STALLED, both workers a
  // Cancel. 0 = off.
  uint32_t stream_idle_timeout_ms = 30000;
  int threads = 4;              // the pool for tokenize / MatchPrefix / place
  int max_attempts = 2;         // first try + one retry elsewhere
  uint32_t kv_wait_ms = 10000;  // wait this long for decode KV room before 429 (0 = no wait)
  // Requests before their first token (queued for placement, waiting for KV room or
  // prefilling) at most; one more is refused at once with RESOURCE_EXHAUSTED
  // QUEUE_FULL (HTTP 429 + Retry-After), so a flood costs no unbounded memory.
  uint32_t max_waiting_requests = 4096;
};

struct GenerationResult {
  std::string finish_reason;  // "stop" or "length"
  openai::Usage usage;
  std::string prefill_node, decode_node;
};

// Receives one request's events, in order, never two at once:
// [OnStart, OnText*] then exactly one of OnFinish / OnError. Nothing after a Cancel.
class GenerationSink {
 public:
  virtual ~GenerationSink() = default;
  // The first token exists (placement done, prefill answered).
  virtual void OnStart(const std::string& request_id, const std::string& prefill_node,
                       const std::string& decode_node) = 0;
  // More text (maybe "" while a stop string may be forming) and the tokens it came from.
  virtual void OnText(const std::string& text, const std::vector<uint32_t>& token_ids) = 0;
  virtual void OnFinish(const GenerationResult& result) = 0;
  // `started`: OnStart ran (the error comes after the first token). The status
  // carries a reason: PROMPT_TOO_LONG / BAD_PROMPT (INVALID_ARGUMENT),
  // SLO_UNATTAINABLE / NO_KV_SPACE (RESOURCE_EXHAUSTED), NO_NODES (UNAVAILABLE),
  // NODE_FAILED (UNAVAILABLE) or the worker's own.
  virtual void OnError(const Status& status, bool started) = 0;
};

// A started request. Cancel() stops it everywhere (both workers free its memory);
// the sink hears nothing more. Idempotent; thread-safe.
class RequestHandle {
 public:
  virtual ~RequestHandle() = default;
  virtual void Cancel() = 0;
};

class Pipeline : public PrefixLookup {
 public:
  // All references borrowed, must outlive the pipeline; `store` may be null (no
  // prefix matching). Model id and block keys come from `model`.
  Pipeline(PipelineOptions options, const ServedModel& model, Placer& placer,
           ConductorCounters& counters, store::PrefixMatcher* store, const Clock& clock);
  ~Pipeline() override;  // Shutdown()

  // Starts `request`; its events go to `sink` from other threads.
  std::shared_ptr<RequestHandle> Start(openai::GenerationRequest request,
                                       std::shared_ptr<GenerationSink> sink);

  // LookupPrefix: text (as a completion prompt), chat (one user message through the
  // model's chat template, exactly as /v1/chat/completions tokenizes it) or token ids
  // → per-node matched blocks. FAILED_PRECONDITION (reason NO_MASTER) without a store.
  [[nodiscard]] StatusOr<kvc::v1::LookupPrefixResponse> Lookup(
      const kvc::v1::LookupPrefixRequest& request) override;

  // Graceful drain (SIGTERM): from now on Start() refuses every new request with
  // UNAVAILABLE (reason SHUTTING_DOWN: HTTP 503 + Retry-After); running ones go on.
  void BeginDrain();
  bool draining() const;
  // Waits until no request is in flight or `timeout` passed; true when none is left.
  bool WaitIdle(std::chrono::milliseconds timeout);
  // Requests in flight now.
  size_t in_flight() const;

  // Cancels every request in flight and waits (bounded) until their RPCs ended.
  void Shutdown();

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace kvc::conductor

// RequestTable: every request a decode node holds, from Reserve until it is retired,
// and the ledger of KV blocks. A request commits room for all the blocks it can ever
// need at Reserve (prompt + max_new_tokens); the prompt's blocks are allocated then,
// the rest on demand as decoding proceeds (Grow). free_kv_blocks = blocks free in the
// cache minus the committed room not yet allocated, so a reserved request can never
// run out of memory mid-stream.
//
// Phases: reserved (waiting for its KV and Decode; freed at its TTL) → queued
// (claimed by Decode, waiting for a batch slot) → running (owned by the engine
// thread) → retired (blocks freed, forgotten).
//
// Quarantine: a prefill node may still be writing KV into a reservation's blocks
// (through the transfer engine, bypassing this node's CPU) when the reservation is
// freed before its Decode call (TTL expiry, Cancel). Such blocks stay allocated in
// the cache for `quarantine` (longer than the prefill side's transfer timeout) and
// only then return to the free pool, so a late write cannot land in another
// request's blocks. Quarantined blocks are not free (free_kv_blocks excludes them).
// Blocks of a claimed request (Decode called: every write finished) are freed at once,
// and so are those of a reservation cancelled with kv_writes_done (the conductor
// knows its Prefill call answered, or was never sent).
//
// Per-client bound: a reservation carries the conductor's client id ("key:<n>" or
// "addr:<ip>"). While a client holds quarantined blocks, a Reserve for it is refused
// (NO_KV_SPACE) when its quarantined blocks plus the new prompt's would exceed
// `client_quarantine_blocks`; so one client that reserves and walks away cannot
// fill the node with quarantine (it holds at most that bound, or one prompt, plus
// whatever its reservations in flight hold).
//
// Thread-safe. The engine thread alone touches a running request's Sequence and
// TokenStream.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "decode/internal/token_stream.h"
#include "kvc/common/clock.h"
#include "kvc/common/status.h"
#include "kvc/engine/engine.h"
#include "kvc/v1/decode.pb.h"

namespace kvc::decode::internal {

// Where a running request's tokens go (the Decode stream). Thread-safe.
class TokenSink {
 public:
  virtual ~TokenSink() = default;
  // One more generated token.
  virtual void Push(int32_t token) = 0;
  // The request finished: sends the pending tokens and `last_tokens` in a last
  // message with `finish_reason`, then ends the stream OK.
  virtual void Complete(const std::string& finish_reason, std::span<const int32_t> last_tokens) = 0;
  // The request ended abnormally: end the stream with `status` (pending tokens dropped).
  virtual void Fail(const Status& status) = 0;
  // Fail, also cutting a write the reader does not take (a stalled stream).
  virtual void Abort(const Status& status) = 0;
  // True when one write has been pending for longer than `limit` (the reader stalls).
  virtual bool Stalled(std::chrono::milliseconds limit) const = 0;
  // Sends an empty message when the stream is idle (nothing pending or in flight), so
  // the reader can tell a request waiting for a batch slot from a hung node.
  virtual void KeepAlive() = 0;
};

enum class Phase { kReserved, kQueued, kRunning };

struct Request {
  std::string id;
  std::string client;  // ReserveRequest.client_id ("" = unknown)
  uint32_t prompt_tokens = 0;
  uint32_t max_new_tokens = 0;
  int64_t committed_blocks = 0;  // most blocks this request may hold
  Clock::TimePoint expires{};    // reserved phase only
  Clock::TimePoint keepalive{};  // queued phase: the last keepalive (or the claim)
  Phase phase = Phase::kReserved;
  engine::Sequence seq;
  std::unique_ptr<TokenStream> tokens;  // set by Claim
  std::shared_ptr<TokenSink> sink;      // set by Claim
  Status cancelled;                     // non-OK once Cancel asked a running request to stop
  int64_t deadline_unix_ms = 0;         // header.deadline_unix_ms of Decode; 0 = none
};

struct Reservation {
  std::vector<engine::BlockId> blocks;  // one per prompt block, in order
  int64_t expires_unix_ms = 0;
};

struct TableCounts {
  uint32_t reserved = 0;
  uint32_t queued = 0;
  uint32_t running = 0;
  int64_t free_kv_blocks = 0;  // neither allocated nor committed (nor quarantined)
  int64_t total_kv_blocks = 0;
  int64_t quarantined_kv_blocks = 0;        // freed reservations' blocks waiting out late writes
  uint64_t client_quarantine_refusals = 0;  // Reserves refused by the per-client bound
};

class RequestTable {
 public:
  // `cache` and `clock` are borrowed. `config` gives the vocabulary, context and EOS ids.
  // `ttl`: an unclaimed reservation is freed after it. `quarantine`: how long the blocks
  // of a reservation freed before its Decode call stay out of the pool (0 = none).
  // `client_quarantine_blocks`: the per-client bound above (0 = none).
  RequestTable(engine::KvCache& cache, const engine::ModelConfig& config, Clock& clock,
               std::chrono::milliseconds ttl, std::chrono::milliseconds quarantine,
               int64_t client_quarantine_blocks = 0);

  // ---- RPC side ----
  // Allocates the prompt's blocks and commits room for the whole request. Errors:
  // INVALID_ARGUMENT (MISSING_REQUEST_ID, EMPTY_PROMPT, BAD_MAX_TOKENS, PROMPT_TOO_LONG),
  // ALREADY_EXISTS (DUPLICATE_REQUEST), RESOURCE_EXHAUSTED (NO_KV_SPACE: no room, or
  // `client` is over its quarantine bound), UNAVAILABLE (SHUTTING_DOWN). Nothing
  // changes on error.
  [[nodiscard]] StatusOr<Reservation> Reserve(const std::string& id, uint32_t prompt_tokens,
                                              uint32_t max_new_tokens,
                                              const std::string& client = "");
  // Validates `request` against its reservation and queues it for the batch with
  // `sink`. Errors: NOT_FOUND (UNKNOWN_REQUEST), ALREADY_EXISTS (ALREADY_DECODING),
  // INVALID_ARGUMENT (MISSING_REQUEST_ID, PROMPT_MISMATCH, TOKEN_OUT_OF_RANGE,
  // BAD_SAMPLING, MAX_TOKENS_OVER_RESERVATION), UNAVAILABLE (SHUTTING_DOWN).
  // Nothing changes on error (the reservation stays).
  [[nodiscard]] Status Claim(const v1::DecodeRequest& request, std::shared_ptr<TokenSink> sink);
  // Frees a reserved (blocks quarantined, unless `kv_writes_done`: no write can still
  // arrive) or queued request at once (a queued one's sink fails with `why`); asks the
  // engine thread to stop a running one. False when `id` is unknown; an unknown `id`
  // cancelled with `kv_writes_done` still has its quarantined blocks (if any, e.g.
  // from an earlier Cancel that did not know) released at once.
  bool Cancel(const std::string& id, const Status& why, bool kv_writes_done = false);
  // Waits until `id` is retired; false when it is still there after `timeout`.
  bool WaitGone(const std::string& id, std::chrono::milliseconds timeout);
  TableCounts Counts() const;

  // ---- engine thread ----
  // Waits until there is queued or cancelled work, `timeout` passes, or the table is
  // closed; returns immediately when `busy`. False once closed.
  bool WaitForWork(bool busy, std::chrono::milliseconds timeout);
  // Frees reservations whose TTL passed (their blocks go to quarantine); returns how many.
  int ExpireReservations();
  // Returns to the cache the quarantined blocks whose delay passed; returns how many.
  int64_t ReleaseQuarantine();
  // Queued requests whose last keepalive (or claim) is at least `interval` old; marks
  // them as kept alive now. The caller calls their sink's KeepAlive().
  std::vector<std::shared_ptr<Request>> DueForKeepAlive(std::chrono::milliseconds interval);
  // Moves up to `max` queued requests (oldest first) to running and returns them.
  std::vector<std::shared_ptr<Request>> Admit(size_t max);
  // Why a running request must stop (OK while it may run on): cancelled, or its
  // end-to-end deadline passed (DEADLINE_EXCEEDED).
  Status CancelStatus(const Request& request) const;
  // Makes sure request.seq has blocks for all its tokens, from its committed room.
  [[nodiscard]] Status Grow(Request& request);
  // Frees the request's blocks and uncommitted room and forgets it.
  void Retire(Request& request);

  // ---- shutdown ----
  // Refuses new Reserve/Claim calls (UNAVAILABLE) and wakes the engine thread.
  void Close();
  // Frees every request that is not running (and every quarantined block: nothing is
  // reserved any more) and returns those that had a sink.
  std::vector<std::shared_ptr<Request>> DrainWaiting();

 private:
  // Blocks freed at one time, back in the pool at `release`.
  struct Quarantined {
    Clock::TimePoint release;
    std::vector<engine::BlockId> blocks;
    std::string client;
    std::string request_id;
  };

  int64_t FreeLocked() const;
  Status CheckClientQuarantineLocked(const std::string& client, int64_t prompt_blocks);
  // `quarantine` false: no late write can arrive, free a reservation's blocks at once.
  void EraseLocked(Request& request, bool quarantine = true);
  void ReleaseQuarantineLocked(Clock::TimePoint now);
  // Frees the entry of `request_id` (if any) before its time.
  void ReleaseQuarantinedRequestLocked(const std::string& request_id);
  void FreeQuarantinedLocked(const Quarantined& q);
  Status ValidateClaimLocked(const v1::DecodeRequest& r, const Request& reserved) const;

  engine::KvCache& cache_;
  const engine::ModelConfig& config_;
  Clock& clock_;
  const std::chrono::milliseconds ttl_;
  const std::chrono::milliseconds quarantine_delay_;
  const int64_t client_quarantine_blocks_;

  mutable std::mutex mu_;
  std::condition_variable work_cv_;                           // queued work, cancellations, close
  std::condition_variable gone_cv_;                           // a request was retired
  std::map<std::string, std::shared_ptr<Request>> requests_;  // guarded by mu_
  std::deque<std::shared_ptr<Request>> queue_;                // guarded by mu_
  std::deque<Quarantined> quarantine_;                        // release time order; guarded by mu_
  int64_t quarantined_ = 0;                            // blocks in quarantine_; guarded by mu_
  std::map<std::string, int64_t> client_quarantined_;  // client -> its blocks in quarantine_
  uint64_t client_refusals_ = 0;                       // guarded by mu_
  int64_t room_ = 0;             // committed but unallocated blocks; guarded by mu_
  bool cancel_pending_ = false;  // guarded by mu_
  bool closed_ = false;          // guarded by mu_
  uint32_t running_ = 0;         // guarded by mu_
};

}  // namespace kvc::decode::internal

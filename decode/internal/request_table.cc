#include "decode/internal/request_table.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kvc/common/logging.h"
#include "kvc/common/metrics.h"
#include "kvc/common/reason.h"

namespace kvc::decode::internal {
namespace {

Status Invalid(const std::string& message, Reason reason) {
  return WithReason(absl::InvalidArgumentError(message), reason);
}
Status ShuttingDown() {
  return WithReason(absl::UnavailableError("decode node is shutting down"), Reason::kShuttingDown);
}
int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Process-wide metrics (one decode worker per process; its /metrics).
Gauge& QuarantinedGauge() {
  static Gauge& g = MetricsRegistry::Default().GetGauge(
      "kvc_decode_quarantined_kv_blocks",
      "KV blocks of freed reservations held back from the pool until no late write can arrive.");
  return g;
}
Counter& ClientRefusals() {
  static Counter& c = MetricsRegistry::Default().GetCounter(
      "kvc_decode_client_quarantine_refusals_total",
      "Reserves refused because the client held too many quarantined KV blocks.");
  return c;
}

}  // namespace

RequestTable::RequestTable(engine::KvCache& cache, const engine::ModelConfig& config, Clock& clock,
                           std::chrono::milliseconds ttl, std::chrono::milliseconds quarantine,
                           int64_t client_quarantine_blocks)
    : cache_(cache),
      config_(config),
      clock_(clock),
      ttl_(ttl),
      quarantine_delay_(quarantine),
      client_quarantine_blocks_(client_quarantine_blocks) {}

Status RequestTable::CheckClientQuarantineLocked(const std::string& client, int64_t prompt_blocks) {
  if (client.empty() || client_quarantine_blocks_ <= 0) return absl::OkStatus();
  auto it = client_quarantined_.find(client);
  if (it == client_quarantined_.end()) return absl::OkStatus();
  if (it->second + prompt_blocks <= client_quarantine_blocks_) return absl::OkStatus();
  ++client_refusals_;
  ClientRefusals().Increment();
  return WithReason(
      absl::ResourceExhaustedError(absl::StrCat(
          "client ", client, " holds ", it->second,
          " KV blocks in quarantine on this node (its requests were cancelled before decoding); "
          "with this prompt's ",
          prompt_blocks, " it would exceed the per-client bound of ", client_quarantine_blocks_,
          " (kv_quarantine_client_percent)")),
      Reason::kNoKvSpace);
}

int64_t RequestTable::FreeLocked() const {
  return std::max<int64_t>(0, cache_.free_blocks() - room_);
}

StatusOr<Reservation> RequestTable::Reserve(const std::string& id, uint32_t prompt_tokens,
                                            uint32_t max_new_tokens, const std::string& client) {
  if (id.empty()) return Invalid("header.request_id is empty", Reason::kMissingRequestId);
  if (prompt_tokens == 0) return Invalid("prompt_tokens is 0", Reason::kEmptyPrompt);
  if (max_new_tokens == 0) return Invalid("max_new_tokens is 0", Reason::kBadMaxTokens);
  if (prompt_tokens > config_.max_position_embeddings) {
    return Invalid(absl::StrCat("prompt has ", prompt_tokens, " tokens, model context is ",
                                config_.max_position_embeddings),
                   Reason::kPromptTooLong);
  }
  const int64_t bt = cache_.geometry().block_tokens;
  const int64_t max_len =
      std::min<int64_t>(int64_t{prompt_tokens} + max_new_tokens, config_.max_position_embeddings);
  const int64_t prompt_blocks = CeilDiv(prompt_tokens, bt);
  const int64_t total_blocks = std::max(prompt_blocks, CeilDiv(max_len, bt));
  std::lock_guard lock(mu_);
  if (closed_) return ShuttingDown();
  if (requests_.contains(id)) {
    return WithReason(absl::AlreadyExistsError("request " + id + " already exists on this node"),
                      Reason::kDuplicateRequest);
  }
  KVC_RETURN_IF_ERROR(CheckClientQuarantineLocked(client, prompt_blocks));
  if (total_blocks > FreeLocked()) {
    return WithReason(absl::ResourceExhaustedError(absl::StrCat(
                          "request needs ", total_blocks, " KV blocks, ", FreeLocked(), " free (",
                          quarantined_, " quarantined after a freed reservation)")),
                      Reason::kNoKvSpace);
  }
  auto r = std::make_shared<Request>();
  r->id = id;
  r->client = client;
  r->prompt_tokens = prompt_tokens;
  r->max_new_tokens = max_new_tokens;
  r->committed_blocks = total_blocks;
  r->expires = clock_.Now() + ttl_;
  for (int64_t i = 0; i < prompt_blocks; ++i) {
    auto block = cache_.Allocate();  // cannot fail: free_blocks >= room + total_blocks
    if (!block.ok()) {
      for (engine::BlockId b : r->seq.blocks) cache_.Free(b);
      return WithReason(block.status(), Reason::kNoKvSpace);
    }
    r->seq.blocks.push_back(*block);
  }
  room_ += total_blocks - prompt_blocks;
  requests_.emplace(id, r);
  return Reservation{r->seq.blocks, clock_.UnixMillis() + ttl_.count()};
}

Status RequestTable::ValidateClaimLocked(const v1::DecodeRequest& q, const Request& r) const {
  if (q.prompt_tokens() != r.prompt_tokens) {
    return Invalid(absl::StrCat("prompt_tokens is ", q.prompt_tokens(), ", the reservation has ",
                                r.prompt_tokens),
                   Reason::kPromptMismatch);
  }
  if (static_cast<uint32_t>(q.prompt_token_ids_size()) != q.prompt_tokens()) {
    return Invalid(absl::StrCat("prompt_token_ids has ", q.prompt_token_ids_size(),
                                " ids, prompt_tokens is ", q.prompt_tokens()),
                   Reason::kPromptMismatch);
  }
  const auto vocab = static_cast<uint64_t>(config_.vocab_size);
  for (int i = 0; i < q.prompt_token_ids_size(); ++i) {
    if (q.prompt_token_ids(i) >= vocab) {
      return Invalid(absl::StrCat("prompt_token_ids[", i, "] = ", q.prompt_token_ids(i),
                                  " is outside the vocabulary [0, ", vocab, ")"),
                     Reason::kTokenOutOfRange);
    }
  }
  if (q.first_token_id() >= vocab) {
    return Invalid(absl::StrCat("first_token_id ", q.first_token_id(),
                                " is outside the vocabulary [0, ", vocab, ")"),
                   Reason::kTokenOutOfRange);
  }
  if (q.sampling().max_tokens() > r.max_new_tokens) {
    return Invalid(absl::StrCat("sampling.max_tokens ", q.sampling().max_tokens(),
                                " is over the reserved max_new_tokens ", r.max_new_tokens),
                   Reason::kMaxTokensOverReservation);
  }
  return absl::OkStatus();
}

Status RequestTable::Claim(const v1::DecodeRequest& q, std::shared_ptr<TokenSink> sink) {
  const std::string& id = q.header().request_id();
  if (id.empty()) return Invalid("header.request_id is empty", Reason::kMissingRequestId);
  std::lock_guard lock(mu_);
  if (closed_) return ShuttingDown();
  auto it = requests_.find(id);
  if (it == requests_.end()) {
    return WithReason(absl::NotFoundError("no reservation for request " + id +
                                          " (never reserved, expired or cancelled)"),
                      Reason::kUnknownRequest);
  }
  Request& r = *it->second;
  if (r.phase != Phase::kReserved) {
    return WithReason(absl::AlreadyExistsError("request " + id + " is already decoding"),
                      Reason::kAlreadyDecoding);
  }
  KVC_RETURN_IF_ERROR(ValidateClaimLocked(q, r));
  KVC_ASSIGN_OR_RETURN(auto options, ToSamplingOptions(q.sampling(), r.max_new_tokens));
  r.tokens = std::make_unique<TokenStream>(options, config_.eos_token_ids,
                                           static_cast<int32_t>(q.first_token_id()));
  r.seq.tokens.assign(q.prompt_token_ids().begin(), q.prompt_token_ids().end());
  r.seq.tokens.push_back(static_cast<int32_t>(q.first_token_id()));
  r.seq.num_computed = q.prompt_tokens();
  r.sink = std::move(sink);
  r.deadline_unix_ms = q.header().deadline_unix_ms();
  r.phase = Phase::kQueued;
  r.keepalive = clock_.Now();
  queue_.push_back(it->second);
  work_cv_.notify_all();
  return absl::OkStatus();
}

bool RequestTable::Cancel(const std::string& id, const Status& why, bool kv_writes_done) {
  std::shared_ptr<Request> r;
  {
    std::lock_guard lock(mu_);
    auto it = requests_.find(id);
    if (it == requests_.end()) {
      if (kv_writes_done) ReleaseQuarantinedRequestLocked(id);
      return false;
    }
    r = it->second;
    if (r->phase == Phase::kRunning) {
      if (r->cancelled.ok()) r->cancelled = why;
      cancel_pending_ = true;
      work_cv_.notify_all();
      return true;
    }
    if (r->phase == Phase::kQueued) std::erase(queue_, r);
    EraseLocked(*r, /*quarantine=*/!kv_writes_done);
  }
  if (r->sink) r->sink->Fail(why);
  return true;
}

bool RequestTable::WaitGone(const std::string& id, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  return gone_cv_.wait_for(lock, timeout, [&] { return !requests_.contains(id); });
}

TableCounts RequestTable::Counts() const {
  std::lock_guard lock(mu_);
  TableCounts c;
  c.queued = static_cast<uint32_t>(queue_.size());
  c.running = running_;
  c.reserved = static_cast<uint32_t>(requests_.size()) - c.queued - c.running;
  c.free_kv_blocks = FreeLocked();
  c.total_kv_blocks = cache_.num_blocks();
  c.quarantined_kv_blocks = quarantined_;
  c.client_quarantine_refusals = client_refusals_;
  return c;
}

bool RequestTable::WaitForWork(bool busy, std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  if (!busy) {
    work_cv_.wait_for(lock, timeout, [&] { return closed_ || !queue_.empty() || cancel_pending_; });
  }
  cancel_pending_ = false;
  return !closed_;
}

int RequestTable::ExpireReservations() {
  std::lock_guard lock(mu_);
  const auto now = clock_.Now();
  std::vector<std::shared_ptr<Request>> expired;
  for (auto& [id, r] : requests_) {
    if (r->phase == Phase::kReserved && r->expires <= now) expired.push_back(r);
  }
  for (auto& r : expired) {
    Logger("decode")->warn(
        "reservation {} expired unclaimed after {} ms; its {} KV blocks are quarantined for {} ms",
        r->id, ttl_.count(), r->seq.blocks.size(), quarantine_delay_.count());
    EraseLocked(*r);
  }
  return static_cast<int>(expired.size());
}

std::vector<std::shared_ptr<Request>> RequestTable::DueForKeepAlive(
    std::chrono::milliseconds interval) {
  std::lock_guard lock(mu_);
  const auto now = clock_.Now();
  std::vector<std::shared_ptr<Request>> due;
  for (const auto& r : queue_) {
    if (now - r->keepalive >= interval) {
      r->keepalive = now;
      due.push_back(r);
    }
  }
  return due;
}

std::vector<std::shared_ptr<Request>> RequestTable::Admit(size_t max) {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<Request>> out;
  while (!queue_.empty() && out.size() < max) {
    out.push_back(std::move(queue_.front()));
    queue_.pop_front();
    out.back()->phase = Phase::kRunning;
    ++running_;
  }
  return out;
}

Status RequestTable::CancelStatus(const Request& r) const {
  std::lock_guard lock(mu_);
  if (r.cancelled.ok() && r.deadline_unix_ms > 0 && clock_.UnixMillis() > r.deadline_unix_ms) {
    return WithReason(absl::DeadlineExceededError("the request's end-to-end deadline passed"),
                      Reason::kDeadlineExceeded);
  }
  return r.cancelled;
}

Status RequestTable::Grow(Request& r) {
  const int64_t bt = cache_.geometry().block_tokens;
  const int64_t needed = CeilDiv(static_cast<int64_t>(r.seq.tokens.size()), bt);
  std::lock_guard lock(mu_);
  while (static_cast<int64_t>(r.seq.blocks.size()) < needed) {
    if (static_cast<int64_t>(r.seq.blocks.size()) >= r.committed_blocks) {
      return absl::InternalError(absl::StrCat("request ", r.id, " outgrew its ", r.committed_blocks,
                                              " committed KV blocks"));
    }
    KVC_ASSIGN_OR_RETURN(engine::BlockId block, cache_.Allocate());
    r.seq.blocks.push_back(block);
    --room_;
  }
  return absl::OkStatus();
}

int64_t RequestTable::ReleaseQuarantine() {
  std::lock_guard lock(mu_);
  const int64_t before = quarantined_;
  ReleaseQuarantineLocked(clock_.Now());
  return before - quarantined_;
}

void RequestTable::ReleaseQuarantineLocked(Clock::TimePoint now) {
  while (!quarantine_.empty() && quarantine_.front().release <= now) {
    FreeQuarantinedLocked(quarantine_.front());
    quarantine_.pop_front();
  }
}

void RequestTable::ReleaseQuarantinedRequestLocked(const std::string& request_id) {
  auto it = std::find_if(quarantine_.begin(), quarantine_.end(),
                         [&](const Quarantined& q) { return q.request_id == request_id; });
  if (it == quarantine_.end()) return;
  FreeQuarantinedLocked(*it);
  quarantine_.erase(it);
}

void RequestTable::FreeQuarantinedLocked(const Quarantined& q) {
  for (engine::BlockId b : q.blocks) cache_.Free(b);
  const auto n = static_cast<int64_t>(q.blocks.size());
  quarantined_ -= n;
  if (auto it = client_quarantined_.find(q.client); it != client_quarantined_.end()) {
    if ((it->second -= n) <= 0) client_quarantined_.erase(it);
  }
  QuarantinedGauge().Set(static_cast<double>(quarantined_));
}

void RequestTable::EraseLocked(Request& r, bool quarantine) {
  room_ -= std::max<int64_t>(0, r.committed_blocks - static_cast<int64_t>(r.seq.blocks.size()));
  // Never claimed: a prefill node may still write into these blocks (see the header).
  if (quarantine && r.phase == Phase::kReserved && quarantine_delay_.count() > 0 && !closed_ &&
      !r.seq.blocks.empty()) {
    const auto n = static_cast<int64_t>(r.seq.blocks.size());
    quarantined_ += n;
    if (!r.client.empty()) client_quarantined_[r.client] += n;
    quarantine_.push_back(
        {clock_.Now() + quarantine_delay_, std::move(r.seq.blocks), r.client, r.id});
    QuarantinedGauge().Set(static_cast<double>(quarantined_));
  } else {
    for (engine::BlockId b : r.seq.blocks) cache_.Free(b);
  }
  r.seq = engine::Sequence{};
  r.committed_blocks = 0;
  if (r.phase == Phase::kRunning) --running_;
  requests_.erase(r.id);
  gone_cv_.notify_all();
}

void RequestTable::Retire(Request& r) {
  std::lock_guard lock(mu_);
  auto it = requests_.find(r.id);
  if (it == requests_.end() || it->second.get() != &r) return;
  EraseLocked(r);
}

void RequestTable::Close() {
  std::lock_guard lock(mu_);
  closed_ = true;
  work_cv_.notify_all();
}

std::vector<std::shared_ptr<Request>> RequestTable::DrainWaiting() {
  std::lock_guard lock(mu_);
  std::vector<std::shared_ptr<Request>> waiting;
  for (auto& [id, r] : requests_) {
    if (r->phase != Phase::kRunning) waiting.push_back(r);
  }
  queue_.clear();
  for (auto& r : waiting) EraseLocked(*r);
  ReleaseQuarantineLocked(Clock::TimePoint::max());
  std::erase_if(waiting, [](const auto& r) { return r->sink == nullptr; });
  return waiting;
}

}  // namespace kvc::decode::internal

// Placer: the live conductor's bridge to the Algorithm-1 Scheduler (policy.h). It
// turns membership snapshots (heartbeat load) plus the conductor's own view of work it
// has sent and not yet seen finish into the scheduler's node states, runs the
// policy, and maps the policy's integer node ids back to registry nodes.
//
//   prefill queue seconds = max(heartbeat queued_prefill_tokens, tokens in flight from
//                               here) / the node's measured prefill tokens/s
//   decode capacity       = total_kv_blocks * block_tokens; its jobs are the requests
//                           this conductor is decoding there (plus what the heartbeat
//                           says is used beyond them)
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "kvc/common/clock.h"
#include "kvc/common/status.h"
#include "kvc/conductor/admin_service.h"
#include "kvc/conductor/policy.h"
#include "kvc/membership/node_registry.h"

namespace kvc::conductor {

struct PlacerOptions {
  PrefillPolicy prefill = PrefillPolicy::kGlobalCache;
  RejectionPolicy rejection = RejectionPolicy::kPlain;
  double kvcache_balancing_threshold = 1.25;
  uint32_t block_tokens = 16;
  double prefill_tokens_per_s = 2000;  // for nodes that reported no speed yet
  double transfer_bytes_per_s = 1e9;
  double kv_bytes_per_token = 4096;
  double decode_step_base_s = 0.005;
  double decode_step_per_token_s = 1e-6;
};

struct PlacementInput {
  uint32_t prompt_tokens = 0;
  uint32_t max_new_tokens = 0;
  // Per store node: leading blocks of the prompt it holds (PrefixMatcher::MatchPrefix).
  std::vector<std::pair<std::string, uint32_t>> matches;
  std::set<std::string> excluded;  // nodes that failed this request
};

struct Placement {
  kvc::v1::NodeInfo prefill;
  std::vector<kvc::v1::NodeInfo> decode;  // candidates, the policy's pick first
  uint32_t prefix_blocks = 0;             // leading blocks the prefill node should reuse
  std::string prefix_holder;              // node holding them ("" when none)
  double predicted_ttft_s = 0;
};

class Placer {
 public:
  // All references borrowed; they must outlive the placer.
  Placer(PlacerOptions options, membership::MembershipView& members, const SloStore& slo,
         const Clock& clock);

  // Places a request. UNAVAILABLE (reason NO_NODES) when no prefill or decode node
  // may take work; RESOURCE_EXHAUSTED with reason NO_KV_SPACE when no decode node has
  // room for prompt + max_new_tokens now (KV_CAPACITY when none ever could), or
  // SLO_UNATTAINABLE when the rejection policy refuses it (the scheduler's explanation).
  [[nodiscard]] StatusOr<Placement> Place(const PlacementInput& input);

  // The conductor's own load accounting (cleared by the matching End call).
  void PrefillStarted(const std::string& node, uint32_t tokens);
  void PrefillEnded(const std::string& node, uint32_t tokens);
  void DecodeStarted(const std::string& request, const std::string& node, uint32_t context,
                     uint32_t remaining);
  void DecodeProgress(const std::string& request, uint32_t generated);
  void DecodeEnded(const std::string& request);
  // A node just failed a request: it gets no new work for `for_how_long` (unless no
  // other node of its role is left). A preference of this conductor only: the node
  // stays "up" in the membership (it answered, or may be reachable by others).
  void Suspect(const std::string& node, Clock::Duration for_how_long);
  // A request could not reach the node at all (connection refused or reset, a
  // stalled stream): the membership marks it down for everyone until its next
  // heartbeat (MembershipView::ReportUnreachable), plus Suspect() here.
  void Unreachable(const std::string& node, const std::string& reason);

 private:
  struct DecodeEntry {
    std::string node;
    uint32_t prompt = 0, max_new = 0, generated = 0;
  };
  std::vector<DecodeNodeState> DecodeStates(const std::vector<kvc::v1::NodeInfo>& nodes) const;
  // global-cache: a longer prefix held by a node that is not an available prefill node
  // (drained, decode, store) is fetched too when Algorithm 1 says it pays.
  void FetchFromAnyHolder(const PlacementInput& in, const CostModel& cost, Placement& p) const;

  const PlacerOptions options_;
  membership::MembershipView& members_;
  const SloStore& slo_;
  const Clock& clock_;
  mutable std::mutex mu_;
  uint64_t decisions_ = 0;                            // guarded by mu_; seeds the random policy
  std::map<std::string, uint64_t> prefill_tokens_;    // guarded by mu_
  std::map<std::string, DecodeEntry> decode_jobs_;    // guarded by mu_; by request id
  std::map<std::string, Clock::TimePoint> suspects_;  // guarded by mu_; node -> until
};

}  // namespace kvc::conductor

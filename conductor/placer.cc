#include "kvc/conductor/placer.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/str_cat.h"
#include "kvc/common/reason.h"

namespace kvc::conductor {
namespace {

std::vector<kvc::v1::NodeInfo> Usable(const std::vector<kvc::v1::NodeInfo>& up,
                                      kvc::v1::NodeRole role,
                                      const std::set<std::string>& excluded) {
  std::vector<kvc::v1::NodeInfo> nodes;
  for (const auto& n : up) {
    if (n.role() == role && excluded.count(n.node_id()) == 0) nodes.push_back(n);
  }
  return nodes;
}

// "no prefill node is up", saying how many this request already tried.
std::string NoNodeMessage(const std::vector<kvc::v1::NodeInfo>& all, kvc::v1::NodeRole role,
                          const std::set<std::string>& excluded, const char* name) {
  size_t tried = 0;
  for (const auto& n : all) tried += n.role() == role && excluded.count(n.node_id()) > 0;
  if (tried > 0) {
    return absl::StrCat("no other ", name, " node is up (", tried,
                        " failed this request); start workers or undrain one (kvcctl nodes)");
  }
  return absl::StrCat("no ", name, " node is up; start workers or undrain one (kvcctl nodes)");
}

}  // namespace

Placer::Placer(PlacerOptions options, membership::MembershipView& members, const SloStore& slo,
               const Clock& clock)
    : options_(options), members_(members), slo_(slo), clock_(clock) {}

std::vector<DecodeNodeState> Placer::DecodeStates(
    const std::vector<kvc::v1::NodeInfo>& nodes) const {
  const int64_t b = options_.block_tokens;
  std::vector<DecodeNodeState> out;
  for (size_t i = 0; i < nodes.size(); ++i) {
    const auto& load = nodes[i].load();
    DecodeNodeState s;
    s.node = static_cast<int>(i);
    s.kv_capacity_tokens = load.total_kv_blocks() > 0
                               ? static_cast<int64_t>(load.total_kv_blocks()) * b
                               : std::numeric_limits<int64_t>::max() / 4;
    int64_t mine = 0;
    for (const auto& [id, e] : decode_jobs_) {
      if (e.node != nodes[i].node_id()) continue;
      s.jobs.push_back({static_cast<int64_t>(e.prompt + e.generated),
                        static_cast<int64_t>(e.max_new - std::min(e.generated, e.max_new)), 0});
      mine += e.prompt + e.max_new;
    }
    const int64_t used =
        static_cast<int64_t>(load.total_kv_blocks() -
                             std::min(load.free_kv_blocks(), load.total_kv_blocks())) *
        b;
    if (used > mine) s.jobs.push_back({used - mine, 0, 0});  // work the heartbeat knows of
    out.push_back(std::move(s));
  }
  return out;
}

void Placer::FetchFromAnyHolder(const PlacementInput& in, const CostModel& cost,
                                Placement& p) const {
  if (options_.prefill != PrefillPolicy::kGlobalCache) return;
  const double threshold = options_.kvcache_balancing_threshold;
  if (!std::isfinite(threshold)) return;
  std::string holder;
  uint32_t best = 0;
  for (const auto& [node, blocks] : in.matches) {
    if (blocks > best) {
      best = blocks;
      holder = node;
    }
  }
  const int64_t b = options_.block_tokens;
  const int64_t own = int64_t{p.prefix_blocks} * b, remote = int64_t{best} * b;
  if (remote <= own * threshold) return;
  // Algorithm 1 for a holder the scheduler did not see (a drained, decode or store node):
  // fetch when moving the missing blocks beats recomputing them.
  const int64_t n = in.prompt_tokens;
  if (cost.TransferSeconds(remote - own) + cost.PrefillSeconds(n, remote) >=
      cost.PrefillSeconds(n, own)) {
    return;
  }
  p.prefix_blocks = best;
  p.prefix_holder = holder;
}

StatusOr<Placement> Placer::Place(const PlacementInput& in) {
  std::set<std::string> avoid = in.excluded;
  {
    std::lock_guard lock(mu_);
    const auto now = clock_.Now();
    std::erase_if(suspects_, [&](const auto& s) { return s.second <= now; });
    for (const auto& [node, until] : suspects_) avoid.insert(node);
  }
  // One snapshot for the whole decision (what kvcctl nodes and /health show).
  const std::vector<kvc::v1::NodeInfo> all = members_.List();
  std::vector<kvc::v1::NodeInfo> up;
  for (const auto& n : all) {
    if (n.state() == "up") up.push_back(n);
  }
  auto prefill = Usable(up, kvc::v1::NODE_ROLE_PREFILL, avoid);
  if (prefill.empty()) prefill = Usable(up, kvc::v1::NODE_ROLE_PREFILL, in.excluded);
  auto decode = Usable(up, kvc::v1::NODE_ROLE_DECODE, avoid);
  if (decode.empty()) decode = Usable(up, kvc::v1::NODE_ROLE_DECODE, in.excluded);
  if (prefill.empty()) {
    return WithReason(absl::UnavailableError(
                          NoNodeMessage(all, kvc::v1::NODE_ROLE_PREFILL, in.excluded, "prefill")),
                      Reason::kNoNodes);
  }
  if (decode.empty()) {
    return WithReason(absl::UnavailableError(
                          NoNodeMessage(all, kvc::v1::NODE_ROLE_DECODE, in.excluded, "decode")),
                      Reason::kNoNodes);
  }
  std::map<std::string, uint32_t> matched(in.matches.begin(), in.matches.end());
  double speed_sum = 0;
  std::vector<PrefillNodeState> pstates;
  std::lock_guard lock(mu_);
  for (size_t i = 0; i < prefill.size(); ++i) {
    const auto& load = prefill[i].load();
    const double speed = load.prefill_tokens_per_second() > 0 ? load.prefill_tokens_per_second()
                                                              : options_.prefill_tokens_per_s;
    speed_sum += speed;
    auto it = prefill_tokens_.find(prefill[i].node_id());
    const uint64_t queued = std::max<uint64_t>(load.queued_prefill_tokens(),
                                               it == prefill_tokens_.end() ? 0 : it->second);
    const auto m = matched.find(prefill[i].node_id());
    pstates.push_back({static_cast<int>(i), static_cast<double>(queued) / speed,
                       m == matched.end() ? 0 : int64_t{m->second} * options_.block_tokens});
  }
  const double speed = speed_sum / static_cast<double>(prefill.size());
  // Prefill seconds = (n - p) / speed: the linear model of measured speeds.
  PrefillTimeModel model({0, 1000 / speed, -1000 / speed, 0, 0, 0});
  CostModelOptions co;
  co.kv_bytes_per_token = options_.kv_bytes_per_token;
  co.transfer_bytes_per_s = options_.transfer_bytes_per_s;
  co.decode_base_seconds = options_.decode_step_base_s;
  co.decode_seconds_per_token = options_.decode_step_per_token_s;
  PolicyOptions po;
  po.prefill = options_.prefill;
  po.rejection = options_.rejection;
  po.kvcache_balancing_threshold = options_.kvcache_balancing_threshold;
  const kvc::v1::SLO slo = slo_.Get();
  po.ttft_slo_s = slo.ttft_seconds();
  po.tbt_slo_s = slo.tbt_seconds();
  po.seed = ++decisions_;
  Scheduler scheduler(po, CostModel(model, co), clock_);
  const auto dstates = DecodeStates(decode);
  KVC_ASSIGN_OR_RETURN(
      Decision d, scheduler.Schedule({in.prompt_tokens, std::max<uint32_t>(in.max_new_tokens, 1)},
                                     pstates, dstates));
  const int64_t need = int64_t{in.prompt_tokens} + std::max<uint32_t>(in.max_new_tokens, 1);
  if (!d.decode.fits) {  // by this conductor's own accounting: no room anywhere right now
    int64_t largest = 0;
    for (const auto& s : dstates) largest = std::max(largest, s.kv_capacity_tokens);
    return WithReason(
        absl::ResourceExhaustedError(absl::StrCat(
            "no decode node has KV memory for ", need, " tokens",
            need > largest ? absl::StrCat(" (the largest holds ", largest, ")") : " now")),
        need > largest ? Reason::kKvCapacity : Reason::kNoKvSpace);
  }
  if (!d.accepted) {
    return WithReason(absl::ResourceExhaustedError(d.reject_reason), Reason::kSloUnattainable);
  }
  Placement p;
  p.prefill = prefill[static_cast<size_t>(d.prefill.node)];
  p.prefix_blocks = static_cast<uint32_t>(d.prefill.prefix_tokens / options_.block_tokens);
  if (p.prefix_blocks > 0) {
    p.prefix_holder = d.prefill.fetch_from >= 0
                          ? prefill[static_cast<size_t>(d.prefill.fetch_from)].node_id()
                          : p.prefill.node_id();
  }
  p.predicted_ttft_s = d.prefill.ttft_s();
  FetchFromAnyHolder(in, scheduler.cost(), p);
  p.decode.push_back(decode[static_cast<size_t>(d.decode.node)]);
  std::vector<kvc::v1::NodeInfo> rest;
  for (const auto& n : decode) {
    if (n.node_id() != p.decode[0].node_id()) rest.push_back(n);
  }
  std::stable_sort(rest.begin(), rest.end(), [](const auto& a, const auto& b) {
    return a.load().free_kv_blocks() > b.load().free_kv_blocks();
  });
  p.decode.insert(p.decode.end(), rest.begin(), rest.end());
  return p;
}

void Placer::PrefillStarted(const std::string& node, uint32_t tokens) {
  std::lock_guard lock(mu_);
  prefill_tokens_[node] += tokens;
}

void Placer::PrefillEnded(const std::string& node, uint32_t tokens) {
  std::lock_guard lock(mu_);
  auto it = prefill_tokens_.find(node);
  if (it == prefill_tokens_.end()) return;
  it->second -= std::min<uint64_t>(it->second, tokens);
  if (it->second == 0) prefill_tokens_.erase(it);
}

void Placer::DecodeStarted(const std::string& request, const std::string& node, uint32_t context,
                           uint32_t remaining) {
  std::lock_guard lock(mu_);
  decode_jobs_[request] = {node, context, remaining, 0};
}

void Placer::DecodeProgress(const std::string& request, uint32_t generated) {
  std::lock_guard lock(mu_);
  auto it = decode_jobs_.find(request);
  if (it != decode_jobs_.end()) it->second.generated = generated;
}

void Placer::Suspect(const std::string& node, Clock::Duration for_how_long) {
  std::lock_guard lock(mu_);
  suspects_[node] = clock_.Now() + for_how_long;
}

void Placer::Unreachable(const std::string& node, const std::string& reason) {
  members_.ReportUnreachable(node, reason);
  Suspect(node, std::chrono::seconds(2));
}

void Placer::DecodeEnded(const std::string& request) {
  std::lock_guard lock(mu_);
  decode_jobs_.erase(request);
}

}  // namespace kvc::conductor

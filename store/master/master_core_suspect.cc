// MasterCore: suspect nodes, replacing replicas only they hold, and node expiry.
//
// Why: after a holder dies the master lists its replicas until
// store.node_timeout_ms, and a prefill that could not fetch them recomputes the
// blocks; answering its PutStart with OBJECT_EXISTS would throw that work away.
// A key whose every replica sits on a suspect node is therefore put afresh.
#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "store/master/master_core_impl.h"

namespace kvc::store {

bool MasterCore::Impl::Suspect(const Node& node) const {
  return node.reported_unreachable ||
         clock.Now() - node.last_heartbeat > std::chrono::milliseconds(NodeSuspectMs(policy));
}

bool MasterCore::Impl::Replaceable(const Object& obj) const {
  if (!obj.complete || obj.replicas.empty()) return false;
  return std::all_of(obj.replicas.begin(), obj.replicas.end(), [this](const Replica& r) {
    return !r.busy && r.state == ReplicaState::kComplete && Suspect(*r.segment->node);
  });
}

void MasterCore::Impl::Replace(const BlockKey& key) {
  auto it = objects.find(key);
  if (it == objects.end()) return;
  Object& obj = it->second;
  // A reader may hold a lease and still be copying out of a live-but-unreachable
  // node: its range must not carry another object before the lease ends.
  const Clock::TimePoint hold = obj.lease_until;
  for (size_t i = obj.replicas.size(); i-- > 0;) {
    Replica& r = obj.replicas[i];
    (r.segment->node->reported_unreachable ? metrics.replaced_reported : metrics.replaced_suspect)
        .Increment();
    if (r.segment->spec.tier == Tier::kSsd) {
      QueueTask(r.segment->node, MakeTask(NodeTask::Kind::kDropSsd, key, r.length, 0));
    }
    DropReplica(key, obj, i, hold);
  }
  EraseIfEmpty(key);
}

void MasterCore::Impl::ReleaseQuarantine() {
  const Clock::TimePoint now = clock.Now();
  for (auto& [id, node] : nodes) {
    auto seg = node->segments.find(Tier::kDram);
    if (seg == node->segments.end()) continue;
    auto& held = seg->second->quarantine;
    for (size_t i = held.size(); i-- > 0;) {
      const auto [until, offset, length] = held[i];
      if (until > now) continue;
      (void)seg->second->dram->Free(offset, length);
      held.erase(held.begin() + static_cast<long>(i));
    }
  }
}

std::vector<ExpiredNode> MasterCore::Impl::ExpireNodes() {
  const Clock::TimePoint now = clock.Now();
  std::vector<ExpiredNode> expired;
  for (auto& [id, node] : nodes) {
    const auto silent =
        std::chrono::duration_cast<std::chrono::milliseconds>(now - node->last_heartbeat);
    if (silent <= std::chrono::milliseconds(policy.node_timeout_ms)) continue;
    ExpiredNode e{id, node->hostname, 0, static_cast<uint64_t>(silent.count())};
    for (auto& [tier, seg] : node->segments) e.dropped_replicas += seg->lru.size();
    expired.push_back(std::move(e));
  }
  for (const ExpiredNode& e : expired) {
    RemoveNode(e.node_id);
    metrics.expired_nodes.Increment();
    metrics.expired_replicas.Increment(static_cast<double>(e.dropped_replicas));
  }
  return expired;
}

Status MasterCore::ReportUnreachable(const std::string& node_id) {
  std::lock_guard lock(impl_->mu);
  Node* node = impl_->FindNode(node_id);
  if (node == nullptr) {
    return WithReason(absl::NotFoundError(absl::StrCat("ReportUnreachable: node ", node_id,
                                                       " is not known to the master")),
                      "UNKNOWN_NODE");
  }
  node->reported_unreachable = true;
  impl_->metrics.unreachable_reports.Increment();
  return Status();
}

}  // namespace kvc::store

// MasterCore: Get/BatchGet with leases and replica ordering, Exists, MatchPrefix.
#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "kvc/common/reason.h"
#include "store/master/master_core_impl.h"

namespace kvc::store {
namespace {

Status TooManyKeys(const char* op, size_t n, uint32_t limit) {
  return WithReason(absl::InvalidArgumentError(absl::StrCat(op, ": ", n, " keys, the limit is ",
                                                            limit, " (store.max_batch_keys)")),
                    Reason::kBadKeys);
}

}  // namespace

struct MasterCore::GetContext {
  const std::string* reader_host = nullptr;
  int64_t window = 0;
};

uint32_t MasterCore::Impl::ReadLoad(Node& node, int64_t window) {
  if (node.load_window != window) {
    node.reads_before = node.load_window == window - 1 ? node.reads_now : 0;
    node.reads_now = 0;
    node.load_window = window;
  }
  return node.reads_now + node.reads_before;
}

StatusOr<GetResult> MasterCore::GetLocked(const BlockKey& key, const GetContext& ctx) {
  Impl& m = *impl_;
  m.gets++;
  m.metrics.gets.Increment();
  auto it = m.objects.find(key);
  if (it == m.objects.end() || !it->second.complete) {
    m.misses++;
    m.metrics.misses.Increment();
    const bool writing = it != m.objects.end();
    return WithReason(
        absl::NotFoundError(absl::StrCat("Get: key ", key.ToHex(),
                                         writing ? " is still being written" : " not found")),
        Reason::kNotFound);
  }
  Object& obj = it->second;
  struct Ranked {
    const Replica* r;
    bool remote;
    bool ssd;
    uint32_t load;
  };
  std::vector<Ranked> ranked;
  for (Replica& r : obj.replicas) {
    if (r.state != ReplicaState::kComplete) continue;
    r.segment->lru.splice(r.segment->lru.begin(), r.segment->lru, r.lru);  // mark recently used
    ranked.push_back(
        Ranked{&r, ctx.reader_host == nullptr || r.segment->node->hostname != *ctx.reader_host,
               r.segment->spec.tier == Tier::kSsd, Impl::ReadLoad(*r.segment->node, ctx.window)});
  }
  std::stable_sort(ranked.begin(), ranked.end(), [](const Ranked& a, const Ranked& b) {
    if (a.remote != b.remote) return !a.remote;
    if (a.ssd != b.ssd) return !a.ssd;
    return a.load < b.load;
  });
  GetResult out;
  out.size = obj.size;
  for (const Ranked& x : ranked) out.replicas.push_back(m.View(*x.r));
  if (!ranked.empty()) ranked.front().r->segment->node->reads_now++;
  obj.lease_until =
      std::max(obj.lease_until, m.clock.Now() + std::chrono::milliseconds(m.policy.lease_ms));
  out.lease_expires_unix_ms = m.clock.UnixMillis() + m.policy.lease_ms;
  m.hits++;
  m.metrics.hits.Increment();
  m.CountRead(key, obj);  // after the last use of `ranked` (it may add a replica)
  return out;
}

MasterCore::GetContext MasterCore::MakeGetContext(const std::string& reader_node) {
  GetContext ctx;
  if (Node* n = impl_->FindNode(reader_node)) ctx.reader_host = &n->hostname;
  ctx.window =
      std::chrono::duration_cast<std::chrono::seconds>(impl_->clock.Now().time_since_epoch())
          .count();
  return ctx;
}

StatusOr<GetResult> MasterCore::Get(const BlockKey& key, const std::string& reader_node) {
  std::lock_guard lock(impl_->mu);
  return GetLocked(key, MakeGetContext(reader_node));
}

StatusOr<std::vector<StatusOr<GetResult>>> MasterCore::BatchGet(std::span<const BlockKey> keys,
                                                                const std::string& reader_node) {
  if (keys.size() > impl_->policy.max_batch_keys) {
    return TooManyKeys("BatchGet", keys.size(), impl_->policy.max_batch_keys);
  }
  std::lock_guard lock(impl_->mu);
  const GetContext ctx = MakeGetContext(reader_node);
  std::vector<StatusOr<GetResult>> out;
  out.reserve(keys.size());
  for (const BlockKey& key : keys) out.push_back(GetLocked(key, ctx));
  return out;
}

bool MasterCore::Exists(const BlockKey& key) const {
  std::shared_lock lock(impl_->mu);
  auto it = impl_->objects.find(key);
  return it != impl_->objects.end() && it->second.complete;
}

StatusOr<std::vector<bool>> MasterCore::BatchExists(std::span<const BlockKey> keys) const {
  if (keys.size() > impl_->policy.max_batch_keys) {
    return TooManyKeys("BatchExists", keys.size(), impl_->policy.max_batch_keys);
  }
  std::shared_lock lock(impl_->mu);
  std::vector<bool> out;
  out.reserve(keys.size());
  for (const BlockKey& key : keys) {
    auto it = impl_->objects.find(key);
    out.push_back(it != impl_->objects.end() && it->second.complete);
  }
  return out;
}

StatusOr<PrefixMatch> MasterCore::MatchPrefix(std::span<const BlockKey> keys) const {
  const Impl& m = *impl_;
  if (keys.size() > m.policy.max_batch_keys) {
    return TooManyKeys("MatchPrefix", keys.size(), m.policy.max_batch_keys);
  }
  const Clock::TimePoint start = m.clock.Now();
  PrefixMatch out;
  std::shared_lock lock(m.mu);
  // `active` holds the nodes that hold every key so far; a node leaves it at the
  // first key it misses, with that index as its match length.
  std::vector<const Node*> active;
  for (size_t i = 0; i < keys.size() && (i == 0 || !active.empty()); ++i) {
    auto it = m.objects.find(keys[i]);
    const Object* obj = (it != m.objects.end() && it->second.complete) ? &it->second : nullptr;
    auto holds = [obj](const Node* n) {
      if (obj == nullptr) return false;
      for (const Replica& r : obj->replicas) {
        if (r.segment->node == n && r.state == ReplicaState::kComplete) return true;
      }
      return false;
    };
    if (i == 0) {
      if (obj == nullptr) break;
      for (const Replica& r : obj->replicas) {
        const Node* n = r.segment->node;
        if (r.state == ReplicaState::kComplete &&
            std::find(active.begin(), active.end(), n) == active.end()) {
          active.push_back(n);
        }
      }
      continue;
    }
    for (size_t j = 0; j < active.size();) {
      if (holds(active[j])) {
        ++j;
        continue;
      }
      out.nodes.push_back(NodeMatch{active[j]->id, static_cast<uint32_t>(i)});
      active[j] = active.back();
      active.pop_back();
    }
  }
  for (const Node* n : active)
    out.nodes.push_back(NodeMatch{n->id, static_cast<uint32_t>(keys.size())});
  std::sort(out.nodes.begin(), out.nodes.end(), [](const NodeMatch& a, const NodeMatch& b) {
    if (a.matched_blocks != b.matched_blocks) return a.matched_blocks > b.matched_blocks;
    return a.node_id < b.node_id;
  });
  if (!out.nodes.empty()) {
    out.best_node_id = out.nodes.front().node_id;
    out.best_matched_blocks = out.nodes.front().matched_blocks;
  }
  m.metrics.match_prefix_seconds.Observe(ToSeconds(m.clock.Now() - start));
  return out;
}

}  // namespace kvc::store

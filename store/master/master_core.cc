// MasterCore: construction, two-phase put, removal, replica changes, housekeeping.
#include "store/master/master_core.h"

#include <algorithm>
#include <chrono>

#include "absl/strings/str_cat.h"
#include "kvc/common/reason.h"
#include "store/master/master_core_impl.h"

namespace kvc::store {
namespace {

std::chrono::milliseconds Ms(uint32_t ms) { return std::chrono::milliseconds(ms); }

Status NotStarted(const BlockKey& key, const char* op) {
  return WithReason(absl::NotFoundError(absl::StrCat(op, ": no put of key ", key.ToHex(),
                                                     " is in progress (PutStart first)")),
                    Reason::kPutNotStarted);
}

}  // namespace

MasterCore::MasterCore(const MasterPolicyOptions& policy, const Clock& clock,
                       MetricsRegistry& metrics)
    : impl_(std::make_unique<Impl>(policy, clock, metrics)) {}

MasterCore::~MasterCore() = default;

StatusOr<std::vector<ReplicaView>> MasterCore::PutStart(const BlockKey& key, uint64_t size,
                                                        uint32_t replicas,
                                                        const std::string& preferred_node) {
  Impl& m = *impl_;
  if (size == 0 || size > m.policy.max_object_bytes) {
    return WithReason(absl::InvalidArgumentError(
                          absl::StrCat("PutStart: value size ", size, " of key ", key.ToHex(),
                                       " is outside 1..", m.policy.max_object_bytes, " bytes")),
                      Reason::kBadSize);
  }
  if (replicas == 0) replicas = m.policy.default_replicas;
  if (replicas > m.policy.max_replicas) {
    return WithReason(
        absl::InvalidArgumentError(absl::StrCat(
            "PutStart: ", replicas, " replicas asked, the limit is ", m.policy.max_replicas)),
        Reason::kBadReplicas);
  }
  std::lock_guard lock(m.mu);
  KVC_RETURN_IF_ERROR(m.CheckFence("PutStart"));
  if (auto it = m.objects.find(key); it != m.objects.end() && m.Replaceable(it->second)) {
    m.Replace(key);
  }
  if (auto it = m.objects.find(key); it != m.objects.end()) {
    const bool done = it->second.complete;
    return WithReason(
        absl::AlreadyExistsError(absl::StrCat(
            "PutStart: key ", key.ToHex(), done ? " already exists" : " is already being written")),
        done ? Reason::kObjectExists : Reason::kPutInProgress);
  }
  std::vector<Segment*> order = m.PlacementOrder(preferred_node, size);
  if (order.empty()) {
    // Make room synchronously where eviction can free space now (not demotions).
    for (auto& [id, node] : m.nodes) {
      auto seg = node->segments.find(Tier::kDram);
      if (seg == node->segments.end()) continue;
      const uint64_t cap = seg->second->spec.capacity_bytes;
      const uint64_t target = cap > size ? cap - size : 0;
      m.EvictSegment(seg->second.get(),
                     std::min(target, static_cast<uint64_t>(m.policy.dram_low_watermark * cap)));
    }
    order = m.PlacementOrder(preferred_node, size);
  }
  Object obj;
  obj.size = size;
  obj.put_started = m.clock.Now();
  Object& stored = m.objects.emplace(key, std::move(obj)).first->second;
  std::vector<ReplicaView> out;
  for (Segment* seg : order) {
    if (out.size() == replicas) break;
    if (m.Suspect(*seg->node)) continue;  // silent or reported unreachable: the write would fail
    std::optional<uint64_t> offset = seg->dram->Allocate(size);
    if (!offset) continue;
    out.push_back(m.View(m.AddReplica(key, stored, seg, *offset, ReplicaState::kWriting)));
  }
  if (out.empty()) {
    m.objects.erase(key);
    return WithReason(
        absl::ResourceExhaustedError(absl::StrCat(
            "PutStart: no DRAM segment has ", size, " free bytes for key ", key.ToHex(), " (",
            m.nodes.size(), " nodes; in-use and leased objects cannot be evicted)")),
        Reason::kNoSpace);
  }
  m.writing[key] = m.clock.Now();
  return out;
}

Status MasterCore::PutEnd(const BlockKey& key) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->objects.find(key);
  if (it == impl_->objects.end()) return NotStarted(key, "PutEnd");
  Object& obj = it->second;
  if (obj.complete) {
    return WithReason(absl::FailedPreconditionError(
                          absl::StrCat("PutEnd: key ", key.ToHex(), " is already complete")),
                      Reason::kObjectExists);
  }
  obj.complete = true;
  for (Replica& r : obj.replicas) {
    r.state = ReplicaState::kComplete;
    impl_->QueueTask(r.segment->node,
                     Impl::MakeTask(NodeTask::Kind::kRecord, key, r.length, r.offset));
  }
  impl_->writing.erase(key);
  impl_->puts++;
  impl_->metrics.puts.Increment();
  return Status();
}

Status MasterCore::PutRevoke(const BlockKey& key) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->objects.find(key);
  if (it == impl_->objects.end() || it->second.complete) return NotStarted(key, "PutRevoke");
  impl_->EraseObject(key);
  return Status();
}

Status MasterCore::Remove(const BlockKey& key) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->objects.find(key);
  if (it == impl_->objects.end()) {
    return WithReason(absl::NotFoundError(absl::StrCat("Remove: key ", key.ToHex(), " not found")),
                      Reason::kNotFound);
  }
  if (impl_->Leased(it->second)) {
    return WithReason(absl::FailedPreconditionError(absl::StrCat(
                          "Remove: key ", key.ToHex(), " is leased by a reader; retry later")),
                      Reason::kLeased);
  }
  if (impl_->Busy(it->second)) {
    return WithReason(
        absl::FailedPreconditionError(absl::StrCat(
            "Remove: key ", key.ToHex(), " is being written, demoted or replicated; retry later")),
        Reason::kNotComplete);
  }
  impl_->EraseObject(key);
  return Status();
}

TickReport MasterCore::Tick() {
  Impl& m = *impl_;
  std::lock_guard lock(m.mu);
  const Clock::TimePoint now = m.clock.Now();
  TickReport report;
  report.expired_nodes = m.ExpireNodes();
  m.ReleaseQuarantine();
  std::vector<BlockKey> abandoned;
  for (auto& [key, started] : m.writing) {
    if (now - started > Ms(m.policy.put_timeout_ms)) abandoned.push_back(key);
  }
  for (const BlockKey& key : abandoned) m.EraseObject(key);
  std::vector<uint64_t> expired;
  for (auto& [id, t] : m.in_flight) {
    if (now - t.issued > Ms(m.policy.task_timeout_ms)) expired.push_back(id);
  }
  for (uint64_t id : expired) m.ApplyTaskResult(TaskResult{.id = id, .ok = false});
  m.EvictIfNeeded();
  m.PublishRates();
  return report;
}

void MasterCore::FenceAllocations(Clock::TimePoint until) {
  std::lock_guard lock(impl_->mu);
  impl_->alloc_fence = std::max(impl_->alloc_fence, until);
}

Status MasterCore::Impl::CheckFence(const char* op) const {
  const Clock::TimePoint now = clock.Now();
  if (now >= alloc_fence) return Status();
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(alloc_fence - now).count();
  return WithReason(
      absl::UnavailableError(absl::StrCat(
          op, ": this master took over recently and allocates no DRAM for another ", left,
          " ms (writes its predecessor allowed may still be landing); retry after that")),
      Reason::kTakeoverGrace);
}

MasterStats MasterCore::Stats() const {
  std::shared_lock lock(impl_->mu);
  const Impl& m = *impl_;
  uint64_t queued = 0;
  for (const auto& [id, node] : m.nodes) queued += node->queued.size();
  return MasterStats{.objects = m.objects.size(),
                     .nodes = m.nodes.size(),
                     .dram = m.dram_stats,
                     .ssd = m.ssd_stats,
                     .hits = m.hits,
                     .misses = m.misses,
                     .evictions = m.evictions,
                     .demotions = m.demotions,
                     .promotions = m.promotions,
                     .puts = m.puts,
                     .gets = m.gets,
                     .queued_tasks = queued};
}

StatusOr<double> MasterCore::Fragmentation(const std::string& node_id) const {
  std::lock_guard lock(impl_->mu);
  Segment* seg = impl_->FindSegment(node_id, Tier::kDram);
  if (seg == nullptr) {
    return WithReason(absl::NotFoundError(absl::StrCat("node ", node_id, " has no DRAM segment")),
                      Reason::kUnknownSegment);
  }
  return seg->dram->fragmentation();
}

}  // namespace kvc::store

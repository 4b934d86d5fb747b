// MasterCore: segments, nodes, heartbeats, node tasks and re-registration.
#include "absl/strings/str_cat.h"
#include "kvc/common/reason.h"
#include "store/master/master_core_impl.h"

namespace kvc::store {

MasterCore::Node* MasterCore::Impl::FindNode(const std::string& id) {
  auto it = nodes.find(id);
  return it == nodes.end() ? nullptr : it->second.get();
}

MasterCore::Segment* MasterCore::Impl::FindSegment(const std::string& node_id, Tier tier) {
  Node* node = FindNode(node_id);
  if (node == nullptr) return nullptr;
  auto it = node->segments.find(tier);
  return it == node->segments.end() ? nullptr : it->second.get();
}

void MasterCore::Impl::DropSegmentReplicas(Segment* seg) {
  while (!seg->lru.empty()) {
    const BlockKey key = seg->lru.front();
    auto it = objects.find(key);
    if (it == objects.end()) {
      seg->lru.pop_front();  // cannot happen; keeps the loop finite regardless
      continue;
    }
    const int idx = FindReplica(it->second, seg);
    if (idx < 0) {
      seg->lru.pop_front();
      continue;
    }
    DropReplica(key, it->second, static_cast<size_t>(idx));
    EraseIfEmpty(key);
  }
}

void MasterCore::Impl::RemoveNode(const std::string& node_id) {
  Node* node = FindNode(node_id);
  if (node == nullptr) return;
  for (auto& [tier, seg] : node->segments) DropSegmentReplicas(seg.get());
  for (auto it = in_flight.begin(); it != in_flight.end();) {
    it = it->second.node_id == node_id ? in_flight.erase(it) : std::next(it);
  }
  nodes.erase(node_id);
}

NodeTask MasterCore::Impl::MakeTask(NodeTask::Kind kind, const BlockKey& key, uint64_t size,
                                    uint64_t offset, ReplicaView source) {
  NodeTask t;
  t.kind = kind;
  t.key = key;
  t.size = size;
  t.offset = offset;
  t.source = std::move(source);
  return t;
}

void MasterCore::Impl::QueueTask(Node* node, NodeTask task) {
  task.id = next_task_id++;
  node->queued.push_back(std::move(task));
}

Status MasterCore::MountSegment(const SegmentSpec& spec) {
  if (spec.node_id.empty()) {
    return WithReason(absl::InvalidArgumentError("MountSegment: node_id is empty"),
                      Reason::kBadSegment);
  }
  if (spec.capacity_bytes == 0) {
    return WithReason(
        absl::InvalidArgumentError(absl::StrCat("MountSegment: node ", spec.node_id, " ",
                                                TierName(spec.tier), " segment has capacity 0")),
        Reason::kBadSegment);
  }
  if (spec.tier == Tier::kDram && spec.transfer_segment.empty()) {
    return WithReason(
        absl::InvalidArgumentError(absl::StrCat("MountSegment: DRAM segment of ", spec.node_id,
                                                " needs a transfer_segment name")),
        Reason::kBadSegment);
  }
  std::lock_guard lock(impl_->mu);
  auto& node = impl_->nodes[spec.node_id];
  if (!node) {
    node = std::make_unique<Node>();
    node->id = spec.node_id;
  }
  node->hostname = spec.hostname;
  node->last_heartbeat = impl_->clock.Now();
  auto& seg = node->segments[spec.tier];
  if (seg) {
    if (seg->spec.capacity_bytes == spec.capacity_bytes) return Status();
    return WithReason(absl::AlreadyExistsError(absl::StrCat(
                          "MountSegment: node ", spec.node_id, " already mounted a ",
                          TierName(spec.tier), " segment of ", seg->spec.capacity_bytes,
                          " bytes; unmount it before mounting ", spec.capacity_bytes)),
                      Reason::kSegmentExists);
  }
  seg = std::make_unique<Segment>();
  seg->node = node.get();
  seg->spec = spec;
  if (spec.tier == Tier::kDram) seg->dram = std::make_unique<RangeAllocator>(spec.capacity_bytes);
  TierStats& stats = spec.tier == Tier::kDram ? impl_->dram_stats : impl_->ssd_stats;
  stats.capacity_bytes += spec.capacity_bytes;
  return Status();
}

Status MasterCore::UnmountSegment(const std::string& node_id, Tier tier) {
  std::lock_guard lock(impl_->mu);
  Segment* seg = impl_->FindSegment(node_id, tier);
  if (seg == nullptr) {
    return WithReason(absl::NotFoundError(absl::StrCat("UnmountSegment: node ", node_id, " has no ",
                                                       TierName(tier), " segment")),
                      Reason::kUnknownSegment);
  }
  impl_->DropSegmentReplicas(seg);
  TierStats& stats = tier == Tier::kDram ? impl_->dram_stats : impl_->ssd_stats;
  stats.capacity_bytes -= seg->spec.capacity_bytes;
  impl_->FindNode(node_id)->segments.erase(tier);
  return Status();
}

HeartbeatReply MasterCore::Heartbeat(const std::string& node_id, std::span<const TaskResult> done) {
  std::lock_guard lock(impl_->mu);
  HeartbeatReply reply;
  Node* node = impl_->FindNode(node_id);
  if (node == nullptr) {
    reply.reregister = true;
    return reply;
  }
  node->last_heartbeat = impl_->clock.Now();
  node->reported_unreachable = false;  // it is alive (to the master, at least)
  for (const TaskResult& r : done) impl_->ApplyTaskResult(r);
  for (NodeTask& t : node->queued) {
    if (!t.NeedsAck()) continue;
    impl_->in_flight[t.id] = Impl::InFlightTask{t, node_id, impl_->clock.Now()};
  }
  reply.tasks = std::move(node->queued);
  node->queued.clear();
  return reply;
}

StatusOr<std::vector<BlockKey>> MasterCore::ReportReplicas(
    const std::string& node_id, Tier tier, std::span<const ReportedReplica> replicas) {
  std::lock_guard lock(impl_->mu);
  Segment* seg = impl_->FindSegment(node_id, tier);
  if (seg == nullptr) {
    return WithReason(absl::FailedPreconditionError(absl::StrCat("ReportReplicas: node ", node_id,
                                                                 " has no mounted ", TierName(tier),
                                                                 " segment; MountSegment first")),
                      Reason::kUnknownSegment);
  }
  std::vector<BlockKey> refused;
  for (const ReportedReplica& rep : replicas) {
    auto [it, inserted] = impl_->objects.try_emplace(rep.key);
    Object& obj = it->second;
    if (inserted) {
      obj.size = rep.size;
      obj.complete = true;
    }
    if (const int known = Impl::FindReplica(obj, seg);
        known >= 0 && obj.complete && obj.size == rep.size &&
        (seg->dram == nullptr || obj.replicas[static_cast<size_t>(known)].offset == rep.offset)) {
      continue;  // already known (a node re-registering after a network blip)
    }
    const bool conflict =
        !obj.complete || obj.size != rep.size || rep.size == 0 || Impl::FindReplica(obj, seg) >= 0;
    const bool space_ok =
        !conflict && (seg->dram ? seg->dram->AllocateAt(rep.offset, rep.size)
                                : seg->used + rep.size <= seg->spec.capacity_bytes);
    if (!space_ok) {
      refused.push_back(rep.key);
      impl_->EraseIfEmpty(rep.key);
      continue;
    }
    impl_->AddReplica(rep.key, obj, seg, seg->dram ? rep.offset : 0, ReplicaState::kComplete);
  }
  return refused;
}

}  // namespace kvc::store

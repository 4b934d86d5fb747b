// MasterCore::ChangeReplica: more copies of hot blocks, fewer of cold ones.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kvc/common/reason.h"
#include "store/master/master_core_impl.h"

namespace kvc::store {

Status MasterCore::Impl::AddReplicas(const BlockKey& key, Object& obj, uint32_t count) {
  const Replica* source = nullptr;
  for (const Replica& r : obj.replicas) {
    if (r.segment->spec.tier == Tier::kDram && r.state == ReplicaState::kComplete) {
      source = &r;
      break;
    }
  }
  if (source == nullptr) {
    return WithReason(absl::FailedPreconditionError(
                          absl::StrCat("ChangeReplica: key ", key.ToHex(),
                                       " has no complete DRAM replica to copy from (SSD-only)")),
                      Reason::kNotComplete);
  }
  const ReplicaView source_view = View(*source);
  uint32_t added = 0;
  for (Segment* seg : PlacementOrder("", obj.size)) {
    if (added == count) break;
    if (FindReplica(obj, seg) >= 0) continue;  // one DRAM copy per node
    std::optional<uint64_t> offset = seg->dram->Allocate(obj.size);
    if (!offset) continue;
    Replica& r = AddReplica(key, obj, seg, *offset, ReplicaState::kWriting);
    r.busy = true;
    QueueTask(seg->node, MakeTask(NodeTask::Kind::kReplicate, key, obj.size, *offset, source_view));
    ++added;
  }
  if (added == 0) {
    return WithReason(
        absl::ResourceExhaustedError(absl::StrCat("ChangeReplica: no other node has ", obj.size,
                                                  " free DRAM bytes for key ", key.ToHex())),
        Reason::kNoSpace);
  }
  return Status();
}

Status MasterCore::Impl::DropReplicas(const BlockKey& key, Object& obj, uint32_t count) {
  if (Leased(obj)) {
    return WithReason(
        absl::FailedPreconditionError(absl::StrCat("ChangeReplica: key ", key.ToHex(),
                                                   " is leased by a reader; retry later")),
        Reason::kLeased);
  }
  for (size_t i = obj.replicas.size(); i-- > 0 && count > 0;) {
    const Replica& r = obj.replicas[i];
    if (r.segment->spec.tier != Tier::kDram || r.busy || r.state != ReplicaState::kComplete)
      continue;
    DropReplica(key, obj, i);
    --count;
  }
  return Status();
}

StatusOr<std::vector<ReplicaView>> MasterCore::ChangeReplica(const BlockKey& key, uint32_t n) {
  Impl& m = *impl_;
  if (n == 0 || n > m.policy.max_replicas) {
    return WithReason(absl::InvalidArgumentError(
                          absl::StrCat("ChangeReplica: ", n, " replicas is outside 1..",
                                       m.policy.max_replicas, " (use Remove to delete an object)")),
                      Reason::kBadReplicas);
  }
  std::lock_guard lock(m.mu);
  auto it = m.objects.find(key);
  if (it == m.objects.end() || !it->second.complete) {
    return WithReason(absl::NotFoundError(absl::StrCat(
                          "ChangeReplica: key ", key.ToHex(),
                          it == m.objects.end() ? " not found" : " is still being written")),
                      Reason::kNotFound);
  }
  Object& obj = it->second;
  const uint32_t dram = static_cast<uint32_t>(
      std::count_if(obj.replicas.begin(), obj.replicas.end(),
                    [](const Replica& r) { return r.segment->spec.tier == Tier::kDram; }));
  if (n > dram) {
    KVC_RETURN_IF_ERROR(m.CheckFence("ChangeReplica"));
    KVC_RETURN_IF_ERROR(m.AddReplicas(key, obj, n - dram));
  }
  if (n < dram) KVC_RETURN_IF_ERROR(m.DropReplicas(key, obj, dram - n));
  std::vector<ReplicaView> out;
  for (const Replica& r : obj.replicas) out.push_back(m.View(r));
  return out;
}

}  // namespace kvc::store

#include "store/proto_convert.h"

#include "absl/strings/str_cat.h"
#include "kvc/common/reason.h"

namespace kvc::store {

BlockKey FromProto(const v1::BlockKey& key) { return BlockKey{key.hi(), key.lo()}; }

void ToProto(const BlockKey& key, v1::BlockKey* out) {
  out->set_hi(key.hi);
  out->set_lo(key.lo);
}

StatusOr<Tier> TierFromProto(v1::StorageTier tier) {
  if (tier == v1::STORAGE_TIER_DRAM) return Tier::kDram;
  if (tier == v1::STORAGE_TIER_SSD) return Tier::kSsd;
  return WithReason(absl::InvalidArgumentError(absl::StrCat(
                        "tier ", v1::StorageTier_Name(tier),
                        " is not a store tier (STORAGE_TIER_DRAM or STORAGE_TIER_SSD)")),
                    Reason::kBadTier);
}

v1::StorageTier TierToProto(Tier tier) {
  return tier == Tier::kSsd ? v1::STORAGE_TIER_SSD : v1::STORAGE_TIER_DRAM;
}

void ToProto(const ReplicaView& r, v1::Replica* out) {
  out->set_node_id(r.node_id);
  out->set_hostname(r.hostname);
  out->set_tier(TierToProto(r.tier));
  out->set_rpc_address(r.rpc_address);
  out->set_state(r.state == ReplicaState::kComplete ? v1::REPLICA_STATE_COMPLETE
                                                    : v1::REPLICA_STATE_WRITING);
  v1::MemoryDescriptor* loc = out->mutable_location();
  loc->set_segment_name(r.transfer_segment);
  loc->set_offset(r.tier == Tier::kDram ? r.base_address + r.offset : 0);
  loc->set_length(r.length);
}

void ToProto(const NodeTask& t, v1::NodeTask* out) {
  out->set_id(t.id);
  out->set_kind(static_cast<v1::NodeTaskKind>(static_cast<int>(t.kind)));
  ToProto(t.key, out->mutable_key());
  out->set_size(t.size);
  out->set_offset(t.offset);
  if (t.kind == NodeTask::Kind::kReplicate) ToProto(t.source, out->mutable_source());
}

NodeTask FromProto(const v1::NodeTask& t) {
  NodeTask out;
  out.id = t.id();
  out.kind = static_cast<NodeTask::Kind>(static_cast<int>(t.kind()));
  out.key = FromProto(t.key());
  out.size = t.size();
  out.offset = t.offset();
  if (t.has_source()) {
    const v1::Replica& s = t.source();
    out.source.node_id = s.node_id();
    out.source.hostname = s.hostname();
    out.source.tier = s.tier() == v1::STORAGE_TIER_SSD ? Tier::kSsd : Tier::kDram;
    out.source.transfer_segment = s.location().segment_name();
    out.source.rpc_address = s.rpc_address();
    out.source.offset = s.location().offset();  // absolute transfer address
    out.source.length = s.location().length();
  }
  return out;
}

SegmentSpec FromProto(const v1::SegmentInfo& info) {
  SegmentSpec s;
  s.node_id = info.node_id();
  s.hostname = info.hostname();
  s.tier = info.tier() == v1::STORAGE_TIER_SSD ? Tier::kSsd : Tier::kDram;
  s.capacity_bytes = info.capacity_bytes();
  s.transfer_segment = info.transfer_segment();
  s.rpc_address = info.rpc_address();
  s.base_address = info.base_address();
  return s;
}

void ToProto(const SegmentSpec& s, v1::SegmentInfo* out) {
  out->set_node_id(s.node_id);
  out->set_hostname(s.hostname);
  out->set_tier(TierToProto(s.tier));
  out->set_capacity_bytes(s.capacity_bytes);
  out->set_transfer_segment(s.transfer_segment);
  out->set_rpc_address(s.rpc_address);
  out->set_base_address(s.base_address);
}

}  // namespace kvc::store

namespace kvc::store {

void ToProto(const Status& status, v1::ItemStatus* out) {
  out->set_code(static_cast<int32_t>(status.code()));
  if (status.ok()) return;
  out->set_reason(ReasonOf(status));
  out->set_message(std::string(status.message()));
}

Status FromProto(const v1::ItemStatus& status) {
  if (status.code() == 0) return Status();
  const int code = status.code() > 0 && status.code() <= 16 ? status.code() : 2;  // 2 = UNKNOWN
  Status s(static_cast<absl::StatusCode>(code), status.message());
  return status.reason().empty() ? s : WithReason(s, status.reason());
}

}  // namespace kvc::store

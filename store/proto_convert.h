// Conversions between the store's C++ types and kvc.v1 messages, shared by the
// master service, the segment server and the client. Pure functions.
#pragma once

#include "kvc/common/block_hash.h"
#include "kvc/common/status.h"
#include "kvc/v1/store_master.pb.h"
#include "store/master/master_types.h"

namespace kvc::store {

BlockKey FromProto(const v1::BlockKey& key);
void ToProto(const BlockKey& key, v1::BlockKey* out);

// INVALID_ARGUMENT "BAD_TIER" for UNSPECIFIED/DEVICE (the store has DRAM and SSD).
StatusOr<Tier> TierFromProto(v1::StorageTier tier);
v1::StorageTier TierToProto(Tier tier);

// location.offset becomes the transfer address (base + offset) for DRAM.
void ToProto(const ReplicaView& replica, v1::Replica* out);
void ToProto(const NodeTask& task, v1::NodeTask* out);
NodeTask FromProto(const v1::NodeTask& task);

// A per-item outcome of a batch call, with its reason (kvc::WithReason).
void ToProto(const Status& status, v1::ItemStatus* out);
Status FromProto(const v1::ItemStatus& status);

SegmentSpec FromProto(const v1::SegmentInfo& info);
void ToProto(const SegmentSpec& spec, v1::SegmentInfo* out);

}  // namespace kvc::store

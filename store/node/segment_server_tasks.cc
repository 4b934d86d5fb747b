// SegmentServer: carrying out the master's node tasks.
#include "absl/strings/str_cat.h"
#include "kvc/common/logging.h"
#include "store/node/segment_server_impl.h"
#include "store/proto_convert.h"

namespace kvc::store {

bool SegmentServerImpl::RunTask(const v1::NodeTask& task) {
  const BlockKey key = FromProto(task.key());
  const bool in_bounds = task.offset() <= dram_->size && task.size() <= dram_->size - task.offset();
  switch (task.kind()) {
    case v1::NODE_TASK_KIND_RECORD: {
      if (!in_bounds) return false;
      std::lock_guard lock(mu_);
      dram_contents_[key] = {task.offset(), task.size()};
      return true;
    }
    case v1::NODE_TASK_KIND_FORGET: {
      std::lock_guard lock(mu_);
      dram_contents_.erase(key);
      return true;
    }
    case v1::NODE_TASK_KIND_DEMOTE: {
      if (!ssd_ || !in_bounds) return false;
      Status s = ssd_->Put(key, dram_->data + task.offset(), task.size());
      if (!s.ok()) Logger("store")->warn("demote {}: {}", key.ToHex(), s);
      return s.ok();
    }
    case v1::NODE_TASK_KIND_PROMOTE: {
      if (!ssd_ || !in_bounds) return false;
      auto got = ssd_->Read(key, dram_->data + task.offset(), task.size());
      if (!got.ok()) Logger("store")->warn("promote {}: {}", key.ToHex(), got.status());
      return got.ok() && *got == task.size();
    }
    case v1::NODE_TASK_KIND_DROP_SSD:
      return ssd_ && ssd_->Delete(key).ok();
    case v1::NODE_TASK_KIND_REPLICATE:
      return in_bounds && Replicate(task);
    default:
      return false;
  }
}

bool SegmentServerImpl::Replicate(const v1::NodeTask& task) {
  auto log = Logger("store");
  const v1::MemoryDescriptor& src = task.source().location();
  auto handle = engine_.OpenSegment(src.segment_name());
  if (!handle.ok()) {
    log->warn("replicate: cannot open {}: {}", src.segment_name(), handle.status());
    return false;
  }
  auto batch = engine_.AllocateBatch(1);
  if (!batch.ok()) return false;
  transfer::TransferRequest req{.op = transfer::TransferOp::kRead,
                                .local = dram_->data + task.offset(),
                                .target = *handle,
                                .remote_offset = src.offset(),
                                .length = task.size()};
  Status s = engine_.Submit(*batch, {req});
  if (s.ok()) s = engine_.Wait(*batch, std::chrono::milliseconds(options_.transfer_timeout_ms));
  if (!s.ok()) log->warn("replicate {}: {}", FromProto(task.key()).ToHex(), s);
  if (!engine_.FreeBatch(*batch).ok()) {
    // Still pending after the deadline: the batch id leaks rather than free memory in use.
    return false;
  }
  return s.ok();
}

}  // namespace kvc::store

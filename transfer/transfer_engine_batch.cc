// The batch half of TransferEngineImpl: submission, slicing, retries, status.
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "transfer/transfer_engine_impl.h"

namespace kvc::transfer {

using internal::Slice;

Status TransferEngineImpl::ValidateLocked(const std::vector<TransferRequest>& requests,
                                          std::vector<Peer*>* peers) {
  for (size_t i = 0; i < requests.size(); ++i) {
    const TransferRequest& r = requests[i];
    if (r.length == 0 || r.local == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("request ", i, ": length must be > 0 and local must not be null"));
    }
    auto it = peers_.find(r.target);
    if (it == peers_.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("request ", i, ": segment handle ", r.target, " is not open"));
    }
    if (it->second->descriptor.FindRegion(r.remote_offset, r.length) == nullptr) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "request %d: remote range [0x%x, +%d) is outside every region of segment %s", i,
          r.remote_offset, r.length, it->second->name));
    }
    peers->push_back(it->second.get());
  }
  return absl::OkStatus();
}

std::unique_ptr<TransferEngineImpl::Entry> TransferEngineImpl::MakeEntry(
    const TransferRequest& request, Peer* peer, uint64_t key, Batch* batch) {
  auto entry = std::make_unique<Entry>();
  entry->request = request;
  entry->batch = batch;
  entry->peer = peer;
  entry->local_key = key;
  const uint64_t slice = peer->slice_bytes;
  const uint64_t count = (request.length + slice - 1) / slice;
  entry->slices.resize(count);
  for (uint64_t s = 0; s < count; ++s) {
    Slice& x = entry->slices[s];
    x.op = request.op;
    x.local = static_cast<char*>(request.local) + s * slice;
    x.remote = request.remote_offset + s * slice;
    x.length = std::min(slice, request.length - s * slice);
    x.index = s;
    x.sink = this;
    x.owner = entry.get();
  }
  entry->slices_left = count;
  return entry;
}

Status TransferEngineImpl::Submit(BatchId id, const std::vector<TransferRequest>& requests) {
  std::shared_ptr<Batch> batch = FindBatch(id);
  if (!batch) return absl::NotFoundError(absl::StrCat("no batch ", id));
  if (requests.empty()) return absl::OkStatus();
  std::vector<Peer*> peers;
  std::vector<uint64_t> keys;
  auto unpin = [&] {
    for (uint64_t k : keys) regions_.Unpin(k);
  };
  std::vector<Entry*> started;
  uint64_t first_index = 0;
  {
    std::lock_guard lock(mu_);
    KVC_RETURN_IF_ERROR(ValidateLocked(requests, &peers));
    for (size_t i = 0; i < requests.size(); ++i) {
      StatusOr<uint64_t> key = regions_.Pin(reinterpret_cast<uint64_t>(requests[i].local),
                                            requests[i].length, /*remote=*/false);
      if (!key.ok()) {
        unpin();
        return absl::InvalidArgumentError(
            absl::StrCat("request ", i, ": local buffer: ", key.status().message()));
      }
      keys.push_back(*key);
    }
    std::lock_guard batch_lock(batch->mu);
    if (batch->entries.size() + requests.size() > batch->capacity) {
      unpin();
      return absl::ResourceExhaustedError(
          absl::StrCat("batch ", id, " holds ", batch->entries.size(), " of ", batch->capacity,
                       " entries; cannot add ", requests.size()));
    }
    first_index = batch->entries.size();
    for (size_t i = 0; i < requests.size(); ++i) {
      peers[i]->pending_entries++;
      peer_order_.Touch(requests[i].target);
      batch->entries.push_back(MakeEntry(requests[i], peers[i], keys[i], batch.get()));
      started.push_back(batch->entries.back().get());
    }
    batch->pending += requests.size();
  }
  for (size_t i = 0; i < started.size(); ++i) {
    started[i]->index = first_index + i;
    for (Slice& slice : started[i]->slices) Dispatch(&slice);
  }
  return absl::OkStatus();
}

void TransferEngineImpl::Dispatch(Slice* slice) {
  Entry* entry = static_cast<Entry*>(slice->owner);
  slice->drop_connection = false;
  if (shutting_down_) {
    OnSliceDone(slice, absl::CancelledError("transfer engine shutting down"));
    return;
  }
  if (faults_ != nullptr) {
    SliceInfo info{entry->peer->name, entry->index,
                   slice->index,      slice->index * entry->peer->slice_bytes,
                   slice->length,     slice->attempt};
    const FaultDecision decision = faults_->OnSlice(info);
    switch (decision.action) {
      case FaultAction::kPass:
        break;
      case FaultAction::kDelay:
        std::this_thread::sleep_for(decision.delay);
        break;
      case FaultAction::kFail:
        OnSliceDone(slice, absl::UnavailableError("injected fault"));
        return;
      case FaultAction::kDropConnection:
        slice->drop_connection = true;
        break;
    }
  }
  entry->peer->channel->Submit(slice);
}

void TransferEngineImpl::OnSliceDone(Slice* slice, Status status) {
  Entry* entry = static_cast<Entry*>(slice->owner);
  if (!status.ok() && status.code() == absl::StatusCode::kUnavailable &&
      static_cast<uint32_t>(slice->attempt) + 1 < options_.max_attempts) {
    ++slice->attempt;
    retries_->Increment();
    Dispatch(slice);
    return;
  }
  if (status.ok()) {
    entry->bytes_done += slice->length;
    (slice->op == TransferOp::kRead ? entry->peer->bytes_read : entry->peer->bytes_written)
        ->Increment(slice->length);
  } else {
    std::lock_guard lock(entry->error_mu);
    if (entry->error.ok()) entry->error = status;
  }
  if (--entry->slices_left == 0) FinishEntry(entry);
}

void TransferEngineImpl::FinishEntry(Entry* entry) {
  regions_.Unpin(entry->local_key);
  Status error;
  {
    std::lock_guard lock(entry->error_mu);
    error = entry->error;
  }
  Batch* batch = entry->batch;
  if (!error.ok()) failed_entries_->Increment();
  entry->peer->pending_entries--;  // before waking waiters, who may close the segment
  std::lock_guard lock(batch->mu);
  entry->state = error.ok() ? TransferState::kCompleted : TransferState::kFailed;
  if (--batch->pending == 0) batch->done.notify_all();
}

TransferStatus TransferEngineImpl::StatusOfLocked(const Entry& entry) {
  TransferStatus s;
  s.state = entry.state;
  s.bytes_done = entry.bytes_done;
  if (s.state == TransferState::kFailed) {
    std::lock_guard lock(const_cast<Entry&>(entry).error_mu);
    s.error = entry.error;
  }
  return s;
}

StatusOr<TransferStatus> TransferEngineImpl::GetStatus(BatchId id, uint64_t index) const {
  std::shared_ptr<Batch> batch = FindBatch(id);
  if (!batch) return absl::NotFoundError(absl::StrCat("no batch ", id));
  std::lock_guard lock(batch->mu);
  if (index >= batch->entries.size()) {
    return absl::OutOfRangeError(
        absl::StrCat("batch ", id, " has ", batch->entries.size(), " entries; asked for ", index));
  }
  return StatusOfLocked(*batch->entries[index]);
}

StatusOr<std::vector<TransferStatus>> TransferEngineImpl::GetAllStatus(BatchId id) const {
  std::shared_ptr<Batch> batch = FindBatch(id);
  if (!batch) return absl::NotFoundError(absl::StrCat("no batch ", id));
  std::lock_guard lock(batch->mu);
  std::vector<TransferStatus> out;
  out.reserve(batch->entries.size());
  for (const auto& e : batch->entries) out.push_back(StatusOfLocked(*e));
  return out;
}

Status TransferEngineImpl::Wait(BatchId id, std::chrono::milliseconds timeout) {
  std::shared_ptr<Batch> batch = FindBatch(id);
  if (!batch) return absl::NotFoundError(absl::StrCat("no batch ", id));
  std::unique_lock lock(batch->mu);
  if (!batch->done.wait_for(lock, timeout, [&] { return batch->pending == 0; })) {
    return absl::DeadlineExceededError(absl::StrCat("batch ", id, ": ", batch->pending,
                                                    " entries still pending after ",
                                                    timeout.count(), " ms"));
  }
  for (size_t i = 0; i < batch->entries.size(); ++i) {
    const Entry& e = *batch->entries[i];
    if (e.state == TransferState::kFailed) {
      Status error = StatusOfLocked(e).error;
      return Status(error.code(), absl::StrCat("entry ", i, ": ", error.message()));
    }
  }
  return absl::OkStatus();
}

Status TransferEngineImpl::FreeBatch(BatchId id) {
  std::lock_guard lock(mu_);
  auto it = batches_.find(id);
  if (it == batches_.end()) return absl::NotFoundError(absl::StrCat("no batch ", id));
  {
    std::lock_guard batch_lock(it->second->mu);
    if (it->second->pending > 0) {
      return absl::FailedPreconditionError(absl::StrCat("batch ", id, " has ", it->second->pending,
                                                        " entries in flight; Wait() first"));
    }
  }
  batches_.erase(it);
  return absl::OkStatus();
}

StatusOr<std::unique_ptr<TransferEngine>> CreateTransferEngine(const TransferEngineOptions& options,
                                                               SegmentDirectory* directory,
                                                               FaultInjector* faults) {
  if (directory == nullptr) return absl::InvalidArgumentError("segment directory is null");
  auto engine = std::make_unique<TransferEngineImpl>(options, directory, faults);
  KVC_RETURN_IF_ERROR(engine->Init());
  return std::unique_ptr<TransferEngine>(std::move(engine));
}

}  // namespace kvc::transfer

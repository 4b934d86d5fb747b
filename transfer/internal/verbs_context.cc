#include "transfer/internal/verbs_context.h"

#include <algorithm>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kvc/common/logging.h"
#include "transfer/internal/verbs_wire.h"

namespace kvc::transfer::internal {

StatusOr<std::shared_ptr<VerbsContext>> VerbsContext::Create(VerbsProvider& provider,
                                                             Options options) {
  KVC_ASSIGN_OR_RETURN(std::vector<std::string> names, provider.List());
  std::shared_ptr<VerbsContext> context(new VerbsContext(options));
  std::vector<std::string> errors;
  for (const std::string& name : names) {
    StatusOr<std::unique_ptr<VerbsDevice>> device = provider.Open(name);
    if (!device.ok()) {
      Logger("transfer")
          ->warn("verbs: skipping RDMA device {}: {}", name, device.status().message());
      errors.push_back(std::string(device.status().message()));
      continue;
    }
    auto nic = std::make_unique<Nic>();
    nic->device = std::move(*device);
    context->nics_.push_back(std::move(nic));
    context->names_.push_back(name);
  }
  if (context->nics_.empty()) {
    return absl::UnavailableError(
        absl::StrCat("verbs backend: no usable RDMA device (", absl::StrJoin(errors, "; "), ")"));
  }
  for (size_t i = 0; i < context->nics_.size(); ++i) {
    context->nics_[i]->poller = std::thread([c = context.get(), i] { c->PollMain(i); });
  }
  return context;
}

Status VerbsContext::Preflight() {
  // One page, page-aligned like the engine's registered memory.
  constexpr uint64_t kBytes = 4096;
  std::unique_ptr<void, void (*)(void*)> page(std::aligned_alloc(kBytes, kBytes), std::free);
  if (!page) return absl::ResourceExhaustedError("verbs preflight: cannot allocate a test page");
  const uint64_t address = reinterpret_cast<uint64_t>(page.get());
  for (size_t i = 0; i < nics_.size(); ++i) {
    StatusOr<VerbsKeys> keys = nics_[i]->device->Register(address, kBytes, /*remote=*/true);
    if (!keys.ok()) {
      return Status(keys.status().code(),
                    absl::StrCat("verbs preflight: test memory registration on ", names_[i],
                                 " failed: ", keys.status().message(),
                                 " (locked-memory limit? LimitMEMLOCK=infinity / ulimit -l)"));
    }
    nics_[i]->device->Deregister(address);
    StatusOr<std::unique_ptr<VerbsQueuePair>> qp = nics_[i]->device->CreateQueuePair(1);
    if (!qp.ok()) {
      return Status(qp.status().code(),
                    absl::StrCat("verbs preflight: creating a QP on ", names_[i],
                                 " failed: ", qp.status().message()));
    }
  }
  return absl::OkStatus();
}

VerbsContext::~VerbsContext() {
  stopping_ = true;
  for (auto& nic : nics_) {
    if (nic->poller.joinable()) nic->poller.join();
  }
  {
    std::lock_guard lock(mu_);
    target_qps_.clear();
  }
  for (auto& nic : nics_) {
    std::lock_guard lock(nic->mu);
    nic->work.clear();  // owners drained their work before; drop any stray QP references
  }
  for (auto& [address, region] : regions_) {
    for (auto& nic : nics_) nic->device->Deregister(address);
  }
}

// ---- memory ----

Status VerbsContext::Register(uint64_t address, uint64_t length, const std::string& location,
                              bool remote) {
  Region region{length, location, remote, {}};
  for (size_t i = 0; i < nics_.size(); ++i) {
    StatusOr<VerbsKeys> keys = nics_[i]->device->Register(address, length, remote);
    if (!keys.ok()) {
      for (size_t j = 0; j < i; ++j) nics_[j]->device->Deregister(address);
      return Status(keys.status().code(), absl::StrCat("verbs: registering ", length, " bytes on ",
                                                       names_[i], ": ", keys.status().message()));
    }
    region.keys.push_back(*keys);
  }
  std::lock_guard lock(mu_);
  regions_[address] = std::move(region);
  return absl::OkStatus();
}

void VerbsContext::Deregister(uint64_t address) {
  {
    std::lock_guard lock(mu_);
    if (regions_.erase(address) == 0) return;
  }
  for (auto& nic : nics_) nic->device->Deregister(address);
}

std::map<std::string, uint32_t> VerbsContext::RemoteKeys(uint64_t address) const {
  std::map<std::string, uint32_t> out;
  std::lock_guard lock(mu_);
  auto it = regions_.find(address);
  if (it == regions_.end() || !it->second.remote) return out;
  for (size_t i = 0; i < names_.size(); ++i) out[names_[i]] = it->second.keys[i].rkey;
  return out;
}

StatusOr<std::pair<uint32_t, std::string>> VerbsContext::LocalKey(size_t nic, uint64_t address,
                                                                  uint64_t length) const {
  std::lock_guard lock(mu_);
  auto it = regions_.upper_bound(address);
  if (it != regions_.begin() && nic < names_.size()) {
    --it;
    const uint64_t offset = address - it->first;
    if (offset <= it->second.length && length <= it->second.length - offset) {
      return std::make_pair(it->second.keys[nic].lkey, it->second.location);
    }
  }
  return absl::FailedPreconditionError(absl::StrCat("verbs: local buffer 0x", absl::Hex(address),
                                                    " is not registered with the RDMA NICs"));
}

// ---- target side ----

StatusOr<std::string> VerbsContext::Accept(uint64_t connection, const std::string& bytes) {
  KVC_ASSIGN_OR_RETURN(VerbsConnectRequest request, DecodeVerbsRequest(bytes));
  auto it = std::find(names_.begin(), names_.end(), request.target_nic);
  if (it == names_.end()) {
    return absl::NotFoundError(absl::StrCat("verbs: this target has no RDMA device ",
                                            request.target_nic, " (it has ",
                                            absl::StrJoin(names_, ", "), ")"));
  }
  {
    std::lock_guard lock(mu_);
    if (target_qp_count_ >= options_.max_target_qps) {
      return absl::ResourceExhaustedError(
          absl::StrCat("verbs: this target already serves ", target_qp_count_, " queue pairs"));
    }
  }
  KVC_ASSIGN_OR_RETURN(std::shared_ptr<VerbsQp> qp,
                       CreateQueuePair(static_cast<size_t>(it - names_.begin())));
  KVC_RETURN_IF_ERROR(qp->qp->Connect(request.address));
  KVC_ASSIGN_OR_RETURN(std::string reply, EncodeVerbsReply(qp->qp->local()));
  std::lock_guard lock(mu_);
  target_qps_[connection].push_back(std::move(qp));
  ++target_qp_count_;
  return reply;
}

void VerbsContext::Disconnect(uint64_t connection) {
  std::vector<std::shared_ptr<VerbsQp>> gone;
  {
    std::lock_guard lock(mu_);
    auto it = target_qps_.find(connection);
    if (it == target_qps_.end()) return;
    gone.swap(it->second);
    target_qps_.erase(it);
    target_qp_count_ -= gone.size();
  }
}

size_t VerbsContext::target_qps() const {
  std::lock_guard lock(mu_);
  return target_qp_count_;
}

// ---- initiator side ----

StatusOr<std::shared_ptr<VerbsQp>> VerbsContext::CreateQueuePair(size_t nic) {
  if (nic >= nics_.size()) return absl::InvalidArgumentError("verbs: no such NIC index");
  KVC_ASSIGN_OR_RETURN(std::unique_ptr<VerbsQueuePair> qp,
                       nics_[nic]->device->CreateQueuePair(options_.max_outstanding));
  auto out = std::make_shared<VerbsQp>();
  out->qp = std::move(qp);
  out->nic = nic;
  return out;
}

Status VerbsContext::Post(const std::shared_ptr<VerbsQp>& qp, VerbsWork work,
                          const std::shared_ptr<VerbsWorkOwner>& owner, Slice* slice, size_t path) {
  Nic& nic = *nics_[qp->nic];
  work.id = next_id_++;
  {
    std::lock_guard lock(nic.mu);
    if (nic.work.size() + 1 > nic.device->completion_queue_depth()) {
      return absl::ResourceExhaustedError(
          absl::StrCat("verbs: ", names_[qp->nic], " has ", nic.work.size(),
                       " work requests outstanding, as many as its completion queue holds"));
    }
    nic.work[work.id] = Work{owner, qp, slice, path, Clock::now() + options_.timeout, false};
  }
  Status posted = qp->qp->Post(work);
  if (!posted.ok()) {
    std::lock_guard lock(nic.mu);
    nic.work.erase(work.id);
  }
  return posted;
}

void VerbsContext::Drain(const VerbsWorkOwner* owner, Clock::time_point deadline,
                         const Status& why) {
  auto count = [&] {
    size_t n = 0;
    for (auto& nic : nics_) {
      std::lock_guard lock(nic->mu);
      for (auto& [id, w] : nic->work) n += w.owner.get() == owner;
      auto it = nic->reporting.find(owner);
      if (it != nic->reporting.end()) n += it->second;
    }
    return n;
  };
  while (count() > 0 && Clock::now() < deadline) {
    std::unique_lock lock(drain_mu_);
    drained_.wait_for(lock, std::chrono::milliseconds(5));
  }
  for (auto& nic : nics_) {
    std::vector<Work> left;
    {
      std::lock_guard lock(nic->mu);
      for (auto it = nic->work.begin(); it != nic->work.end();) {
        if (it->second.owner.get() == owner) {
          left.push_back(std::move(it->second));
          it = nic->work.erase(it);
        } else {
          ++it;
        }
      }
    }
    for (Work& w : left) w.owner->OnWorkDone(w.slice, w.path, w.qp, why, false);
  }
}

Status VerbsContext::Expired(const Work& work) const {
  return absl::UnavailableError(absl::StrCat("verbs path ", names_[work.qp->nic], " qp ",
                                             work.qp->qp->local().qpn, ": no completion within ",
                                             options_.timeout.count(),
                                             " ms (peer_timeout_ms); the peer or link is gone"));
}

void VerbsContext::PollMain(size_t index) {
  Nic& nic = *nics_[index];
  const auto tick =
      std::clamp(options_.timeout / 4, std::chrono::milliseconds(1), std::chrono::milliseconds(50));
  VerbsCompletion completions[64];
  Clock::time_point next_check = Clock::now() + tick;
  while (!stopping_) {
    const int n = nic.device->Poll(completions, 64, tick);
    for (int i = 0; i < n; ++i) Deliver(nic, completions[i]);
    if (Clock::now() >= next_check) {
      CheckDeadlines(nic);
      next_check = Clock::now() + tick;
    }
  }
}

void VerbsContext::Deliver(Nic& nic, const VerbsCompletion& completion) {
  Work work;
  {
    std::lock_guard lock(nic.mu);
    auto it = nic.work.find(completion.id);
    if (it == nic.work.end()) return;  // already reported at its hard deadline
    work = std::move(it->second);
    nic.work.erase(it);
    ++nic.reporting[work.owner.get()];
  }
  const bool timed_out = work.stalled && completion.code != VerbsCompletionCode::kOk;
  Status status = timed_out
                      ? Expired(work)
                      : CompletionStatus(completion, absl::StrCat(names_[work.qp->nic], " qp ",
                                                                  work.qp->qp->local().qpn));
  Report(nic, std::move(work), std::move(status), timed_out);
}

void VerbsContext::Report(Nic& nic, Work work, Status status, bool timed_out) {
  const VerbsWorkOwner* owner = work.owner.get();
  work.owner->OnWorkDone(work.slice, work.path, work.qp, std::move(status), timed_out);
  work = Work{};  // drop the references before Drain may return
  {
    std::lock_guard lock(nic.mu);
    auto it = nic.reporting.find(owner);
    if (--it->second == 0) nic.reporting.erase(it);
  }
  drained_.notify_all();
}

void VerbsContext::CheckDeadlines(Nic& nic) {
  const Clock::time_point now = Clock::now();
  std::vector<std::shared_ptr<VerbsQp>> stalled;
  std::vector<Work> expired;
  {
    std::lock_guard lock(nic.mu);
    for (auto it = nic.work.begin(); it != nic.work.end();) {
      Work& w = it->second;
      if (now < w.deadline) {
        ++it;
      } else if (!w.stalled) {
        w.stalled = true;
        w.deadline = now + options_.timeout;
        if (std::find(stalled.begin(), stalled.end(), w.qp) == stalled.end()) {
          stalled.push_back(w.qp);
        }
        ++it;
      } else {
        ++nic.reporting[w.owner.get()];
        expired.push_back(std::move(w));
        it = nic.work.erase(it);
      }
    }
  }
  for (auto& qp : stalled) qp->qp->Fail();  // flushes its work: reported through Deliver
  for (Work& w : expired) {
    Status why = Expired(w);
    Report(nic, std::move(w), std::move(why), true);
  }
}

}  // namespace kvc::transfer::internal

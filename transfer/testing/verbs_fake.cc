#include "transfer/testing/verbs_fake.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace kvc::transfer::testing {

using internal::VerbsAddress;
using internal::VerbsCompletion;
using internal::VerbsCompletionCode;
using internal::VerbsKeys;
using internal::VerbsWork;

class FakeVerbsDevice final : public internal::VerbsDevice {
 public:
  FakeVerbsDevice(FakeVerbsFabric* fabric, std::string name)
      : fabric_(fabric), name_(std::move(name)), cq_depth_(fabric->cq_depth_) {}
  const std::string& name() const override { return name_; }

  StatusOr<VerbsKeys> Register(uint64_t address, uint64_t length, bool remote) override {
    uint32_t key;
    {
      std::lock_guard lock(fabric_->mu_);
      if (fabric_->unregistrable_.count(name_)) {
        return absl::UnavailableError("fake verbs: memory registration refused");
      }
      key = fabric_->next_key_++;
    }
    std::lock_guard lock(mu_);
    mrs_[address] = {length, remote, key};
    return VerbsKeys{key, remote ? key : 0};
  }

  void Deregister(uint64_t address) override {
    std::lock_guard lock(mu_);
    mrs_.erase(address);
  }

  StatusOr<std::unique_ptr<internal::VerbsQueuePair>> CreateQueuePair(uint32_t) override;

  uint32_t completion_queue_depth() const override { return cq_depth_; }

  int Poll(VerbsCompletion* out, int max, std::chrono::milliseconds timeout) override {
    std::unique_lock lock(cq_mu_);
    cq_ready_.wait_for(lock, timeout, [&] { return !cq_.empty(); });
    int n = 0;
    while (n < max && !cq_.empty()) {
      out[n++] = cq_.front();
      cq_.pop_front();
    }
    return n;
  }

  void Push(uint64_t id, VerbsCompletionCode code, const char* detail) {
    std::lock_guard lock(cq_mu_);
    cq_.push_back({id, code, detail});
    cq_ready_.notify_all();
  }

  // True when a registration holds [address, address+length) with `key`
  // (as its rkey when `remote`, else as its lkey).
  bool Covers(uint32_t key, uint64_t address, uint64_t length, bool remote) {
    std::lock_guard lock(mu_);
    for (const auto& [start, mr] : mrs_) {
      if (mr.key != key || (remote && !mr.remote)) continue;
      if (address >= start && length <= mr.length && address - start <= mr.length - length) {
        return true;
      }
    }
    return false;
  }

  FakeVerbsFabric* fabric() const { return fabric_; }

 private:
  struct Mr {
    uint64_t length;
    bool remote;
    uint32_t key;
  };
  FakeVerbsFabric* const fabric_;
  const std::string name_;
  const uint32_t cq_depth_;
  std::mutex mu_;
  std::map<uint64_t, Mr> mrs_;  // guarded by mu_
  std::mutex cq_mu_;
  std::condition_variable cq_ready_;
  std::deque<VerbsCompletion> cq_;  // guarded by cq_mu_
};

class FakeVerbsQp final : public internal::VerbsQueuePair {
 public:
  FakeVerbsQp(FakeVerbsDevice* device, uint32_t qpn) : device_(device), qpn_(qpn) {}
  ~FakeVerbsQp() override {
    std::lock_guard lock(device_->fabric()->mu_);
    device_->fabric()->qps_.erase(qpn_);
  }

  VerbsAddress local() const override {
    VerbsAddress a;
    a.qpn = qpn_;
    a.psn = (qpn_ * 7919) & 0xFFFFFF;
    a.lid = 1;
    a.mtu = 5;
    a.port = 1;
    return a;
  }

  Status Connect(const VerbsAddress& remote) override {
    std::lock_guard lock(device_->fabric()->mu_);
    if (device_->fabric()->qps_.count(remote.qpn) == 0) {
      return absl::UnavailableError(absl::StrCat("fake verbs: no QP ", remote.qpn));
    }
    remote_qpn_ = remote.qpn;
    return absl::OkStatus();
  }

  Status Post(const VerbsWork& work) override {
    FakeVerbsFabric& fabric = *device_->fabric();
    std::lock_guard lock(fabric.mu_);
    if (error_) return Complete(work, VerbsCompletionCode::kFlushed, "WR flushed");
    if (fabric.silent_.count(device_->name())) {
      held_.push_back(work.id);
      return absl::OkStatus();
    }
    auto peer = fabric.qps_.find(remote_qpn_);
    if (fabric.broken_.count(device_->name()) || peer == fabric.qps_.end() ||
        fabric.broken_.count(peer->second->device_->name())) {
      return Fail(work, VerbsCompletionCode::kRetryExceeded, "transport retry counter exceeded");
    }
    FakeVerbsDevice& remote = *peer->second->device_;
    if (!remote.Covers(work.rkey, work.remote, work.length, /*remote=*/true)) {
      return Fail(work, VerbsCompletionCode::kRemoteAccess, "remote access error");
    }
    if (!device_->Covers(work.lkey, work.local, work.length, /*remote=*/false)) {
      return Fail(work, VerbsCompletionCode::kOther, "local protection error");
    }
    char* local = reinterpret_cast<char*>(work.local);
    char* far = reinterpret_cast<char*>(work.remote);
    if (work.write) {
      std::memmove(far, local, work.length);
    } else {
      std::memmove(local, far, work.length);
    }
    ++fabric.completed_[device_->name()];
    fabric.busy_qps_.insert(qpn_);
    return Complete(work, VerbsCompletionCode::kOk, "success");
  }

  void Fail() override {
    std::lock_guard lock(device_->fabric()->mu_);
    error_ = true;
    for (uint64_t id : held_) device_->Push(id, VerbsCompletionCode::kFlushed, "WR flushed");
    held_.clear();
  }

 private:
  // REQUIRES: fabric mu_ held.
  Status Complete(const VerbsWork& work, VerbsCompletionCode code, const char* detail) {
    device_->Push(work.id, code, detail);
    return absl::OkStatus();
  }
  Status Fail(const VerbsWork& work, VerbsCompletionCode code, const char* detail) {
    error_ = true;
    return Complete(work, code, detail);
  }

  FakeVerbsDevice* const device_;
  const uint32_t qpn_;
  uint32_t remote_qpn_ = 0;     // guarded by fabric mu_
  bool error_ = false;          // guarded by fabric mu_
  std::vector<uint64_t> held_;  // guarded by fabric mu_; silent work
};

StatusOr<std::unique_ptr<internal::VerbsQueuePair>> FakeVerbsDevice::CreateQueuePair(uint32_t) {
  std::lock_guard lock(fabric_->mu_);
  const uint32_t qpn = fabric_->next_qpn_++;
  auto qp = std::make_unique<FakeVerbsQp>(this, qpn);
  fabric_->qps_[qpn] = qp.get();
  return std::unique_ptr<internal::VerbsQueuePair>(std::move(qp));
}

StatusOr<std::vector<std::string>> FakeVerbsFabric::List() {
  if (nics_.empty()) return absl::UnavailableError("fake verbs: no device");
  return nics_;
}

StatusOr<std::unique_ptr<internal::VerbsDevice>> FakeVerbsFabric::Open(const std::string& name) {
  if (std::find(nics_.begin(), nics_.end(), name) == nics_.end()) {
    return absl::NotFoundError("fake verbs: no device " + name);
  }
  return std::unique_ptr<internal::VerbsDevice>(new FakeVerbsDevice(this, name));
}

void FakeVerbsFabric::SetRegistrationFails(const std::string& nic, bool fails) {
  std::lock_guard lock(mu_);
  if (fails) {
    unregistrable_.insert(nic);
  } else {
    unregistrable_.erase(nic);
  }
}

void FakeVerbsFabric::SetBroken(const std::string& nic, bool broken) {
  std::lock_guard lock(mu_);
  if (broken) {
    broken_.insert(nic);
  } else {
    broken_.erase(nic);
  }
}

void FakeVerbsFabric::SetSilent(const std::string& nic, bool silent) {
  std::lock_guard lock(mu_);
  if (silent) {
    silent_.insert(nic);
  } else {
    silent_.erase(nic);
  }
}

uint64_t FakeVerbsFabric::completed(const std::string& nic) const {
  std::lock_guard lock(mu_);
  auto it = completed_.find(nic);
  return it == completed_.end() ? 0 : it->second;
}

size_t FakeVerbsFabric::busy_qps() const {
  std::lock_guard lock(mu_);
  return busy_qps_.size();
}

size_t FakeVerbsFabric::live_qps() const {
  std::lock_guard lock(mu_);
  return qps_.size();
}

}  // namespace kvc::transfer::testing

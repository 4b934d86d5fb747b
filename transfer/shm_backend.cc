#include "transfer/shm_backend.h"

#include <errno.h>
#include <sys/uio.h>
#include <unistd.h>

#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kvc/common/logging.h"
#include "kvc/common/metrics.h"
#include "transfer/internal/backend_choice.h"
#include "transfer/internal/process_info.h"
#include "transfer/internal/shm_client.h"

namespace kvc::transfer {
namespace {

using internal::PeerChannel;
using internal::Slice;

class ShmChannel final : public PeerChannel {
 public:
  ShmChannel(const ShmBackendOptions& options, const SegmentDescriptor& remote)
      : options_(options),
        pid_(static_cast<pid_t>(remote.pid)),
        start_time_(remote.pid_start_time),
        name_(remote.name),
        socket_(remote.shm_socket) {
    for (uint32_t i = 0; i < options.threads_per_peer; ++i) {
      workers_.emplace_back([this] { WorkerMain(); });
    }
  }

  ~ShmChannel() override {
    {
      std::lock_guard lock(mu_);
      closing_ = true;
      work_.notify_all();
    }
    for (std::thread& t : workers_) t.join();
  }

  std::string backend() const override { return "shm"; }

  void Submit(Slice* slice) override {
    {
      std::lock_guard lock(mu_);
      if (!closing_) {
        queue_.push_back(slice);
        work_.notify_one();
        return;
      }
    }
    slice->sink->OnSliceDone(slice, absl::CancelledError("transfer engine shutting down"));
  }

 private:
  void WorkerMain() {
    while (true) {
      Slice* slice = nullptr;
      {
        std::unique_lock lock(mu_);
        work_.wait(lock, [&] { return closing_ || !queue_.empty(); });
        if (queue_.empty()) return;
        slice = queue_.front();
        queue_.pop_front();
      }
      Status status =
          closing_ ? absl::CancelledError("transfer engine shutting down") : Copy(*slice);
      slice->sink->OnSliceDone(slice, status);
    }
  }

  Status Copy(const Slice& slice) {
    StatusOr<internal::ShmClient*> client = Client();
    if (!client.ok()) return client.status();
    if (*client != nullptr) {
      std::optional<Status> mapped = (*client)->Copy(slice);
      if (mapped.has_value()) return *mapped;
    }
    return CopyAttached(slice);
  }

  // The export-socket client, connected on first use (in a copy thread, never
  // under the engine's lock). nullptr: cross-memory attach only (no socket, or
  // it could not be reached). A wrong cluster token fails every copy.
  StatusOr<internal::ShmClient*> Client() {
    std::lock_guard lock(client_mu_);
    if (!client_tried_ && !socket_.empty()) {
      client_tried_ = true;
      StatusOr<std::unique_ptr<internal::ShmClient>> connected =
          internal::ShmClient::Connect(socket_, options_.cluster_token, options_.timeout, name_);
      if (connected.ok()) {
        client_ = std::move(*connected);
      } else if (connected.status().code() == absl::StatusCode::kUnauthenticated) {
        client_error_ = connected.status();
      } else {
        MetricsRegistry::Default()
            .GetCounter("kvc_transfer_backend_fallbacks_total",
                        "Peers whose preferred transport failed, by the transport used instead",
                        {{"from", "shm-mapping"}, {"to", "cross-memory-attach"}})
            .Increment();
        if (options_.peer_log == nullptr || options_.peer_log->First(name_, "shm-mapping")) {
          Logger("transfer")
              ->warn("shared mappings of {} unavailable ({}); falling back to cross-memory attach",
                     name_, connected.status().message());
        }
      }
    }
    if (!client_error_.ok()) return client_error_;
    return client_.get();
  }

  // Cross-memory attach: one kernel copy straight into the target process.
  Status CopyAttached(const Slice& slice) {
    uint64_t done = 0;
    while (done < slice.length) {
      iovec local{slice.local + done, slice.length - done};
      iovec remote{reinterpret_cast<void*>(slice.remote + done), slice.length - done};
      const ssize_t n = slice.op == TransferOp::kWrite
                            ? process_vm_writev(pid_, &local, 1, &remote, 1, 0)
                            : process_vm_readv(pid_, &local, 1, &remote, 1, 0);
      if (n > 0) {
        done += static_cast<uint64_t>(n);
        continue;
      }
      return ErrorFor(n == 0 ? EFAULT : errno);
    }
    return absl::OkStatus();
  }

  Status ErrorFor(int err) {
    if (err == ESRCH || internal::ProcessStartTime(pid_) != start_time_) {
      return absl::UnavailableError(absl::StrCat("peer ", name_, " (pid ", pid_, ") is gone"));
    }
    if (err == EPERM) {
      return absl::PermissionDeniedError(absl::StrCat("not allowed to access pid ", pid_,
                                                      " (different user or ptrace restrictions)"));
    }
    return absl::OutOfRangeError(
        absl::StrCat("intra-host copy with ", name_, " failed: ", std::strerror(err)));
  }

  const ShmBackendOptions options_;
  const pid_t pid_;
  const uint64_t start_time_;
  const std::string name_;
  const std::string socket_;  // the target's export socket; "" = none
  std::mutex client_mu_;
  bool client_tried_ = false;                    // guarded by client_mu_
  std::unique_ptr<internal::ShmClient> client_;  // guarded by client_mu_ (set once)
  Status client_error_;                          // guarded by client_mu_
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable work_;
  std::deque<Slice*> queue_;  // guarded by mu_
  bool closing_ = false;      // guarded by mu_
};

class ShmBackend final : public internal::Backend {
 public:
  explicit ShmBackend(ShmBackendOptions options) : options_(options) {}
  std::string name() const override { return "shm"; }

  StatusOr<std::unique_ptr<PeerChannel>> Open(const SegmentDescriptor& remote) override {
    if (!internal::SameHost(options_.host_id, internal::BootId(), remote)) {
      return absl::UnavailableError(
          absl::StrCat("segment ", remote.name, " is on another host (host id '", remote.host_id,
                       "', ours '", options_.host_id, "'); shm needs the same host"));
    }
    if (remote.pid <= 0 || internal::ProcessStartTime(remote.pid) != remote.pid_start_time) {
      return absl::UnavailableError(
          absl::StrCat("segment ", remote.name, " (pid ", remote.pid, ") is not running"));
    }
    return std::unique_ptr<PeerChannel>(new ShmChannel(options_, remote));
  }

 private:
  const ShmBackendOptions options_;
};

}  // namespace

std::unique_ptr<internal::Backend> MakeShmBackend(ShmBackendOptions options) {
  return std::make_unique<ShmBackend>(options);
}

}  // namespace kvc::transfer

#include "transfer/tcp_backend.h"

#include <mutex>
#include <vector>

#include "absl/strings/str_cat.h"
#include "transfer/internal/tcp_connection.h"
#include "transfer/internal/thread_tracker.h"

namespace kvc::transfer {
namespace {

using internal::PeerChannel;
using internal::Slice;
using internal::TcpConnection;
using Clock = std::chrono::steady_clock;

class TcpChannel final : public PeerChannel {
 public:
  TcpChannel(const TcpBackendOptions& options, std::string endpoint)
      : options_(options), endpoint_(std::move(endpoint)), paths_(options.connections_per_peer) {}

  ~TcpChannel() override {
    std::vector<std::shared_ptr<TcpConnection>> connections;
    {
      std::lock_guard lock(mu_);
      closing_ = true;
      for (Path& path : paths_) {
        if (path.connection) connections.push_back(std::move(path.connection));
      }
    }
    for (auto& c : connections) c->Close(absl::CancelledError("transfer engine shutting down"));
    connections.clear();
    tracker_.WaitAll();
  }

  std::string backend() const override { return "tcp"; }

  void Submit(Slice* slice) override {
    Status failure;
    {
      std::lock_guard lock(mu_);
      failure = TryEnqueueLocked(slice);
    }
    if (!failure.ok()) slice->sink->OnSliceDone(slice, failure);
  }

 private:
  struct Path {
    std::shared_ptr<TcpConnection> connection;
    Clock::time_point down_until{};
  };

  Status TryEnqueueLocked(Slice* slice) {
    if (closing_) return absl::CancelledError("transfer engine shutting down");
    const Clock::time_point now = Clock::now();
    for (size_t tried = 0; tried < paths_.size(); ++tried) {
      const size_t index = next_path_++ % paths_.size();
      Path& path = paths_[index];
      if (path.down_until > now) continue;
      if (!path.connection || path.connection->broken()) path.connection = Connect(index);
      if (path.connection->Enqueue(slice)) return absl::OkStatus();
    }
    return absl::UnavailableError(absl::StrCat("all ", paths_.size(), " TCP paths to ", endpoint_,
                                               " are down; last error: ", last_error_));
  }

  std::shared_ptr<TcpConnection> Connect(size_t index) {
    TcpConnection::Params params;
    params.endpoint = endpoint_;
    params.token = options_.cluster_token;
    params.timeout = options_.timeout;
    params.tracker = &tracker_;
    params.on_connect_failed = [this, index](const Status& why) {
      std::lock_guard lock(mu_);
      paths_[index].down_until = Clock::now() + options_.path_down;
      last_error_ = std::string(why.message());
    };
    auto connection = std::make_shared<TcpConnection>(std::move(params));
    connection->Start();
    return connection;
  }

  const TcpBackendOptions options_;
  const std::string endpoint_;
  internal::ThreadTracker tracker_;
  std::mutex mu_;
  std::vector<Path> paths_;          // guarded by mu_
  size_t next_path_ = 0;             // guarded by mu_
  std::string last_error_ = "none";  // guarded by mu_
  bool closing_ = false;             // guarded by mu_
};

class TcpBackend final : public internal::Backend {
 public:
  explicit TcpBackend(TcpBackendOptions options) : options_(std::move(options)) {}
  std::string name() const override { return "tcp"; }
  StatusOr<std::unique_ptr<PeerChannel>> Open(const SegmentDescriptor& remote) override {
    if (remote.tcp_endpoints.empty()) {
      return absl::UnavailableError(
          absl::StrCat("segment ", remote.name, " has no TCP endpoint (its target is off)"));
    }
    return std::unique_ptr<PeerChannel>(new TcpChannel(options_, remote.tcp_endpoints.front()));
  }

 private:
  const TcpBackendOptions options_;
};

}  // namespace

std::unique_ptr<internal::Backend> MakeTcpBackend(TcpBackendOptions options) {
  return std::make_unique<TcpBackend>(std::move(options));
}

}  // namespace kvc::transfer

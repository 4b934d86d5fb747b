#include "kvc/transfer/segment_directory.h"

#include <unistd.h>

#include <future>
#include <map>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "transfer/internal/socket_util.h"
#include "transfer/internal/tcp_connection.h"
#include "transfer/internal/wire.h"

namespace kvc::transfer {
namespace {

class InProcessSegmentDirectory : public SegmentDirectory {
 public:
  Status Publish(const SegmentDescriptor& descriptor) override {
    if (descriptor.name.empty()) return absl::InvalidArgumentError("segment name is empty");
    std::lock_guard lock(mu_);
    segments_[descriptor.name] = descriptor;
    return absl::OkStatus();
  }
  Status Remove(const std::string& name) override {
    std::lock_guard lock(mu_);
    if (segments_.erase(name) == 0) {
      return absl::NotFoundError(absl::StrCat("segment '", name, "' is not published"));
    }
    return absl::OkStatus();
  }
  StatusOr<SegmentDescriptor> Fetch(const std::string& name) override {
    std::lock_guard lock(mu_);
    auto it = segments_.find(name);
    if (it == segments_.end()) {
      return absl::NotFoundError(absl::StrCat("segment '", name, "' is not published"));
    }
    return it->second;
  }

 private:
  std::mutex mu_;
  std::map<std::string, SegmentDescriptor> segments_;  // guarded by mu_
};

// Asks the engine listening at `endpoint` for its descriptor.
StatusOr<std::string> FetchDescriptorJson(const std::string& endpoint, const std::string& token,
                                          std::chrono::milliseconds timeout) {
  KVC_ASSIGN_OR_RETURN(int fd, internal::ConnectTcp(endpoint, timeout));
  auto fetch = [&]() -> StatusOr<std::string> {
    KVC_RETURN_IF_ERROR(internal::AuthenticateClient(fd, endpoint, token));
    internal::RequestFrame request;
    request.op = static_cast<uint8_t>(internal::WireOp::kGetSegment);
    KVC_RETURN_IF_ERROR(internal::SendAll(fd, &request, sizeof(request)));
    internal::ResponseFrame reply;
    KVC_RETURN_IF_ERROR(internal::RecvAll(fd, &reply, sizeof(reply)));
    if (reply.code != 0 || reply.message_length != 0 || reply.length > (16u << 20)) {
      return absl::UnavailableError(absl::StrCat(endpoint, " sent a malformed segment reply"));
    }
    std::string json(reply.length, '\0');
    KVC_RETURN_IF_ERROR(internal::RecvAll(fd, json.data(), json.size()));
    return json;
  };
  StatusOr<std::string> json = fetch();
  close(fd);
  return json;
}

class PeerSegmentDirectory : public SegmentDirectory {
 public:
  PeerSegmentDirectory(std::string token, std::chrono::milliseconds timeout)
      : token_(std::move(token)), timeout_(timeout) {}

  Status Publish(const SegmentDescriptor& descriptor) override {
    return local_.Publish(descriptor);
  }
  Status Remove(const std::string& name) override { return local_.Remove(name); }
  // Concurrent fetches of one name share a single connection to the peer (the
  // first caller fetches, the others wait for its answer): a burst of requests to
  // a new peer opens one connection, not one each (the target caps connections
  // per peer). Nothing is cached after the fetch ends.
  StatusOr<SegmentDescriptor> Fetch(const std::string& name) override {
    StatusOr<SegmentDescriptor> local = local_.Fetch(name);
    if (local.ok()) return local;
    std::promise<StatusOr<SegmentDescriptor>> mine;
    std::shared_future<StatusOr<SegmentDescriptor>> answer;
    bool owner = false;
    {
      std::lock_guard lock(mu_);
      auto it = in_flight_.find(name);
      if (it != in_flight_.end()) {
        answer = it->second;
      } else {
        answer = mine.get_future().share();
        in_flight_.emplace(name, answer);
        owner = true;
      }
    }
    if (!owner) return answer.get();  // the owner's fetch has its own deadline
    mine.set_value(FetchFromPeer(name));
    {
      std::lock_guard lock(mu_);
      in_flight_.erase(name);
    }
    return answer.get();
  }

 private:
  StatusOr<SegmentDescriptor> FetchFromPeer(const std::string& name) {
    StatusOr<std::string> json = FetchDescriptorJson(name, token_, timeout_);
    if (!json.ok()) {
      return Status(
          json.status().code(),
          absl::StrCat("fetching segment '", name, "' from the peer: ", json.status().message()));
    }
    return DecodeSegmentDescriptor(*json);
  }

  const std::string token_;
  const std::chrono::milliseconds timeout_;
  InProcessSegmentDirectory local_;
  std::mutex mu_;
  // Fetches under way, by segment name.
  std::map<std::string, std::shared_future<StatusOr<SegmentDescriptor>>> in_flight_;  // mu_
};

}  // namespace

std::unique_ptr<SegmentDirectory> MakeInProcessSegmentDirectory() {
  return std::make_unique<InProcessSegmentDirectory>();
}

std::unique_ptr<SegmentDirectory> MakePeerSegmentDirectory(std::string cluster_token,
                                                           std::chrono::milliseconds timeout) {
  return std::make_unique<PeerSegmentDirectory>(std::move(cluster_token), timeout);
}

}  // namespace kvc::transfer

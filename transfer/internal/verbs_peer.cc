#include "transfer/internal/verbs_peer.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "kvc/common/logging.h"
#include "kvc/common/metrics.h"
#include "transfer/internal/socket_util.h"
#include "transfer/internal/tcp_connection.h"
#include "transfer/internal/verbs_wire.h"
#include "transfer/internal/wire.h"

namespace kvc::transfer::internal {

namespace {

Counter& PathFailures() {
  static Counter& counter = MetricsRegistry::Default().GetCounter(
      "kvc_transfer_verbs_path_failures_total",
      "Verbs paths (RC queue pairs) marked down after an error, a missed deadline or a failed "
      "handshake");
  return counter;
}

}  // namespace

StatusOr<std::shared_ptr<VerbsPeer>> VerbsPeer::Create(std::shared_ptr<VerbsContext> context,
                                                       VerbsPeerOptions options,
                                                       const SegmentDescriptor& remote) {
  if (remote.verbs_nics.empty()) {
    return absl::UnavailableError(absl::StrCat(
        "segment ", remote.name, " publishes no verbs NIC (its engine has no RDMA device)"));
  }
  if (remote.tcp_endpoints.empty()) {
    return absl::UnavailableError(
        absl::StrCat("segment ", remote.name,
                     " has no TCP endpoint for the verbs handshake (its target is off)"));
  }
  if (options.qps_per_path < 1) options.qps_per_path = 1;
  std::shared_ptr<VerbsPeer> peer(new VerbsPeer(std::move(context), std::move(options), remote));
  peer->connector_ = std::thread([p = peer.get()] { p->ConnectorMain(); });
  return peer;
}

VerbsPeer::VerbsPeer(std::shared_ptr<VerbsContext> context, VerbsPeerOptions options,
                     const SegmentDescriptor& remote)
    : context_(std::move(context)),
      options_(std::move(options)),
      name_(remote.name),
      endpoint_(remote.tcp_endpoints.front()),
      remote_nics_(remote.verbs_nics),
      regions_(remote.regions) {
  StatusOr<Topology> topology = Topology::FromJson(remote.topology_json);
  if (topology.ok()) remote_topology_ = std::move(*topology);  // else: NICs in published order
  const size_t locals = context_->nics().size();
  for (size_t l = 0; l < locals; ++l) {
    for (size_t r = 0; r < remote_nics_.size(); ++r) {
      for (size_t q = 0; q < options_.qps_per_path; ++q) {
        Path path;
        path.id = {l, r, q};
        paths_.push_back(std::move(path));
      }
    }
  }
}

VerbsPeer::~VerbsPeer() {
  Close();  // normally done already (the channel closes its peer); then a no-op
  if (connector_.joinable()) connector_.join();
}

size_t VerbsPeer::IndexOf(const VerbsPathId& id) const {
  return (id.local_nic * remote_nics_.size() + id.remote_nic) * options_.qps_per_path + id.qp;
}

std::string VerbsPeer::PathName(const Path& path) const {
  return absl::StrCat(context_->nics()[path.id.local_nic], "->", name_, "/",
                      remote_nics_[path.id.remote_nic], " qp", path.id.qp);
}

size_t VerbsPeer::connected_paths() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const Path& p : paths_) n += p.state == State::kUp;
  return n;
}

void VerbsPeer::Report(Reports& reports) {
  for (auto& [slice, status] : reports) slice->sink->OnSliceDone(slice, std::move(status));
  reports.clear();
}

// ---- slices ----

const RegionDescriptor* VerbsPeer::RegionOf(const Slice& slice) const {
  for (const RegionDescriptor& r : regions_) {
    if (r.Contains(slice.remote, slice.length)) return &r;
  }
  return nullptr;
}

void VerbsPeer::Submit(Slice* slice) {
  Reports reports;
  {
    std::lock_guard lock(mu_);
    Status refused;
    const RegionDescriptor* region = RegionOf(*slice);
    if (closing_) {
      refused = absl::CancelledError("transfer engine shutting down");
    } else if (region == nullptr || region->verbs_rkeys.empty()) {
      refused = absl::OutOfRangeError(
          absl::StrCat("verbs: no region of ", name_, " with an rkey holds the remote range"));
    } else {
      StatusOr<Path*> path = ChoosePathLocked(*slice, *region);
      if (path.ok()) {
        EnqueueLocked(**path, slice, &reports);
      } else {
        refused = path.status();
      }
    }
    if (!refused.ok()) DoneLocked(slice, refused, &reports);
  }
  Report(reports);
}

void VerbsPeer::DoneLocked(Slice* slice, Status status, Reports* reports) {
  moves_.erase(slice);
  reports->emplace_back(slice, std::move(status));
}

// `slice` did not complete on a path that failed with `why`: moves it to the
// next usable path, at most paths_.size() times, else reports it.
void VerbsPeer::RetryLocked(Slice* slice, const Status& why, Reports* reports) {
  Status final_status = why;
  const RegionDescriptor* region = RegionOf(*slice);
  if (!closing_ && why.code() == absl::StatusCode::kUnavailable && region != nullptr) {
    size_t& moved = moves_[slice];
    if (moved < paths_.size()) {
      ++moved;
      StatusOr<Path*> path = ChoosePathLocked(*slice, *region);
      if (path.ok()) {
        EnqueueLocked(**path, slice, reports);
        return;
      }
      final_status = path.status();
    }
  }
  DoneLocked(slice, final_status, reports);
}

StatusOr<VerbsPeer::Path*> VerbsPeer::ChoosePathLocked(const Slice& slice,
                                                       const RegionDescriptor& region) {
  const uint64_t local = reinterpret_cast<uint64_t>(slice.local);
  KVC_ASSIGN_OR_RETURN(auto key, context_->LocalKey(0, local, slice.length));
  const uint64_t rotation = rotation_++;
  const std::vector<std::string>& nics = context_->nics();
  const std::vector<size_t> local_order =
      IndicesOf(OrderNics(options_.local_topology, key.second, nics, rotation), nics);
  std::vector<std::string> keyed;  // remote NICs the region has an rkey for
  for (const auto& [nic, rkey] : region.verbs_rkeys) keyed.push_back(nic);
  const std::vector<size_t> remote_order =
      IndicesOf(OrderNics(remote_topology_, region.location, keyed, rotation), remote_nics_);
  const Clock::time_point now = Clock::now();
  // The NIC orders rotate with every slice; the QP index only once per round over
  // the local NICs, so that every (NIC, QP) pair gets slices.
  const uint64_t qp_rotation = rotation / std::max<size_t>(1, nics.size());
  for (const VerbsPathId& id :
       OrderVerbsPaths(local_order, remote_order, options_.qps_per_path, qp_rotation)) {
    Path& path = paths_[IndexOf(id)];
    if (path.state == State::kDown) {
      if (now < path.down_until) continue;
      path.state = State::kIdle;
    }
    return &path;
  }
  return absl::UnavailableError(absl::StrCat("all ", paths_.size(), " verbs paths to ", name_,
                                             " are down; last error: ", last_error_));
}

void VerbsPeer::EnqueueLocked(Path& path, Slice* slice, Reports* reports) {
  switch (path.state) {
    case State::kIdle:
      path.state = State::kConnecting;
      connect_queue_.push_back(IndexOf(path.id));
      connect_wanted_.notify_all();
      [[fallthrough]];
    case State::kConnecting:
      path.backlog.push_back(slice);
      return;
    case State::kUp:
      if (path.outstanding < context_->options().max_outstanding && path.backlog.empty()) {
        PostLocked(path, slice, reports);
      } else {
        path.backlog.push_back(slice);
      }
      return;
    case State::kDown:
      break;
  }
  DoneLocked(slice, absl::UnavailableError("verbs path is down"), reports);  // not reached
}

void VerbsPeer::PostLocked(Path& path, Slice* slice, Reports* reports) {
  const uint64_t local = reinterpret_cast<uint64_t>(slice->local);
  StatusOr<std::pair<uint32_t, std::string>> key =
      context_->LocalKey(path.id.local_nic, local, slice->length);
  if (!key.ok()) {
    DoneLocked(slice, key.status(), reports);
    return;
  }
  uint32_t rkey = 0;
  for (const RegionDescriptor& r : regions_) {
    if (r.Contains(slice->remote, slice->length)) {
      auto it = r.verbs_rkeys.find(remote_nics_[path.id.remote_nic]);
      if (it != r.verbs_rkeys.end()) rkey = it->second;
    }
  }
  VerbsWork work;
  work.write = slice->op == TransferOp::kWrite;
  work.local = local;
  work.length = static_cast<uint32_t>(slice->length);
  work.lkey = key->first;
  work.remote = slice->remote;
  work.rkey = rkey;
  Status posted = context_->Post(path.qp, work, shared_from_this(), slice, IndexOf(path.id));
  if (!posted.ok()) {
    const Status why = absl::UnavailableError(absl::StrCat(PathName(path), ": ", posted.message()));
    FailPathLocked(path, why, reports);
    RetryLocked(slice, why, reports);
    return;
  }
  ++path.outstanding;
}

// Posts backlog slices while the QP has room.
void VerbsPeer::PumpLocked(Path& path, Reports* reports) {
  while (path.state == State::kUp && !path.backlog.empty() &&
         path.outstanding < context_->options().max_outstanding) {
    Slice* slice = path.backlog.front();
    path.backlog.pop_front();
    PostLocked(path, slice, reports);
  }
}

void VerbsPeer::FailPathLocked(Path& path, const Status& why, Reports* reports) {
  if (path.qp) path.qp->qp->Fail();  // its outstanding work comes back flushed
  path.qp.reset();
  path.outstanding = 0;
  path.state = State::kDown;
  path.down_until = Clock::now() + options_.path_down;
  last_error_ = absl::StrCat(PathName(path), ": ", why.message());
  if (!closing_) PathFailures().Increment();
  if (!closing_) {
    Logger("transfer")
        ->warn("verbs path {} down for {} ms: {}", PathName(path), options_.path_down.count(),
               why.message());
  }
  // A refused token is final; anything else is worth another path.
  const Status queued =
      why.code() == absl::StatusCode::kUnauthenticated ? why : absl::UnavailableError(last_error_);
  std::deque<Slice*> backlog;
  backlog.swap(path.backlog);
  for (Slice* s : backlog) RetryLocked(s, queued, reports);
}

void VerbsPeer::OnWorkDone(Slice* slice, size_t index, const std::shared_ptr<VerbsQp>& qp,
                           Status status, bool timed_out) {
  Reports reports;
  {
    std::lock_guard lock(mu_);
    Path& path = paths_[index];
    if (path.qp == qp) {  // else: work of a QP already failed and replaced
      --path.outstanding;
      if (status.ok()) {
        PumpLocked(path, &reports);
      } else {
        FailPathLocked(path, status, &reports);
      }
    }
    if (status.ok() || timed_out) {
      DoneLocked(slice, status, &reports);
    } else {
      RetryLocked(slice, status, &reports);
    }
  }
  Report(reports);
}

// ---- connecting ----

void VerbsPeer::ConnectorMain() {
  while (true) {
    size_t index = 0;
    VerbsPathId id;
    {
      std::unique_lock lock(mu_);
      connect_wanted_.wait(lock, [&] { return closing_ || !connect_queue_.empty(); });
      if (closing_) return;
      index = connect_queue_.front();
      connect_queue_.pop_front();
      id = paths_[index].id;
    }
    bool peer_failed = false;
    StatusOr<std::shared_ptr<VerbsQp>> qp = ConnectPath(id, &peer_failed);
    Reports reports;
    {
      std::lock_guard lock(mu_);
      Path& path = paths_[index];
      if (closing_) {
        for (Slice* s : path.backlog) DoneLocked(s, absl::CancelledError("closing"), &reports);
        path.backlog.clear();
      } else if (qp.ok()) {
        path.qp = std::move(*qp);
        path.state = State::kUp;
        path.outstanding = 0;
        PumpLocked(path, &reports);
      } else if (peer_failed) {
        FailUnconnectedLocked(qp.status(), &reports);
      } else {
        FailPathLocked(path, qp.status(), &reports);
      }
    }
    Report(reports);
  }
}

void VerbsPeer::FailUnconnectedLocked(const Status& why, Reports* reports) {
  last_error_ = std::string(why.message());
  Logger("transfer")
      ->warn("verbs peer {}: handshake failed, paths without a QP down for {} ms: {}", name_,
             options_.path_down.count(), why.message());
  const Status report = why.code() == absl::StatusCode::kUnauthenticated
                            ? why
                            : absl::UnavailableError(why.message());
  connect_queue_.clear();
  for (Path& path : paths_) {
    if (path.state == State::kUp) continue;
    path.state = State::kDown;
    path.down_until = Clock::now() + options_.path_down;
    for (Slice* s : path.backlog) DoneLocked(s, report, reports);
    path.backlog.clear();
  }
}

StatusOr<std::shared_ptr<VerbsQp>> VerbsPeer::ConnectPath(const VerbsPathId& id,
                                                          bool* peer_failed) {
  KVC_ASSIGN_OR_RETURN(std::shared_ptr<VerbsQp> qp, context_->CreateQueuePair(id.local_nic));
  VerbsConnectRequest request;
  request.initiator_nic = context_->nics()[id.local_nic];
  request.target_nic = remote_nics_[id.remote_nic];
  request.address = qp->qp->local();
  KVC_ASSIGN_OR_RETURN(std::string bytes, EncodeVerbsRequest(request));
  KVC_ASSIGN_OR_RETURN(std::string reply, Exchange(bytes, peer_failed));
  KVC_ASSIGN_OR_RETURN(VerbsAddress remote, DecodeVerbsReply(reply));
  KVC_RETURN_IF_ERROR(qp->qp->Connect(remote));
  return qp;
}

// One VERBS_CONNECT round trip on the (lazily opened, authenticated) handshake
// connection. Every wait is bounded by the socket timeout.
StatusOr<std::string> VerbsPeer::Exchange(const std::string& request, bool* peer_failed) {
  int fd = -1;
  {
    std::lock_guard lock(mu_);
    fd = handshake_fd_;
  }
  if (fd < 0) {
    *peer_failed = true;  // until the connection is up
    KVC_ASSIGN_OR_RETURN(fd, ConnectTcp(endpoint_, options_.timeout));
    Status auth = AuthenticateClient(fd, endpoint_, options_.cluster_token);
    std::lock_guard lock(mu_);
    if (!auth.ok() || closing_) {
      close(fd);
      return auth.ok() ? absl::CancelledError("closing") : auth;
    }
    handshake_fd_ = fd;
    handshake_sequence_ = 0;
    *peer_failed = false;
  }
  auto broken = [&](const Status& why) {
    *peer_failed = true;
    std::lock_guard lock(mu_);
    if (handshake_fd_ == fd) {
      close(fd);
      handshake_fd_ = -1;
    }
    return absl::UnavailableError(
        absl::StrCat("verbs handshake with ", endpoint_, ": ", why.message()));
  };
  RequestFrame frame;
  frame.op = static_cast<uint8_t>(WireOp::kVerbsConnect);
  frame.sequence = handshake_sequence_++;
  frame.length = request.size();
  iovec iov[2] = {{&frame, sizeof(frame)}, {const_cast<char*>(request.data()), request.size()}};
  Status s = SendAll(fd, iov, 2);
  ResponseFrame response;
  if (s.ok()) s = RecvAll(fd, &response, sizeof(response));
  if (s.ok() && (response.sequence != frame.sequence || response.message_length > 4096 ||
                 response.length > 4096)) {
    s = absl::DataLossError("malformed reply");
  }
  std::string message(s.ok() ? response.message_length : 0, '\0');
  if (s.ok()) s = RecvAll(fd, message.data(), message.size());
  std::string payload(s.ok() && response.code == 0 ? response.length : 0, '\0');
  if (s.ok()) s = RecvAll(fd, payload.data(), payload.size());
  if (!s.ok()) return broken(s);
  if (response.code != 0) {
    return absl::UnavailableError(absl::StrCat(
        "verbs handshake refused by ", endpoint_, ": ",
        absl::StatusCodeToString(static_cast<absl::StatusCode>(response.code)), ": ", message));
  }
  return payload;
}

void VerbsPeer::Close() {
  Reports reports;
  {
    std::lock_guard lock(mu_);
    if (closing_) return;
    closing_ = true;
    for (Path& path : paths_) {
      for (Slice* s : path.backlog) {
        DoneLocked(s, absl::CancelledError("transfer engine shutting down"), &reports);
      }
      path.backlog.clear();
      if (path.qp) path.qp->qp->Fail();
    }
    if (handshake_fd_ >= 0) shutdown(handshake_fd_, SHUT_RDWR);  // wakes the connector
    connect_wanted_.notify_all();
  }
  Report(reports);
  if (connector_.joinable()) connector_.join();
  context_->Drain(this, Clock::now() + options_.timeout,
                  absl::CancelledError("transfer engine shutting down"));
  std::lock_guard lock(mu_);
  for (Path& path : paths_) path.qp.reset();
  if (handshake_fd_ >= 0) close(handshake_fd_);
  handshake_fd_ = -1;
}

}  // namespace kvc::transfer::internal

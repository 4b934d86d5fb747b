#include "transfer/shm_export.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kvc/common/logging.h"
#include "kvc/common/metrics.h"
#include "kvc/common/secret.h"
#include "transfer/internal/unix_socket.h"

namespace kvc::transfer {
namespace {

using internal::ShmControl;

constexpr int64_t kMaxExportsPerSession = 4096;  // a peer asks once per region it touches

void SetReceiveTimeout(int fd, std::chrono::milliseconds timeout) {
  timeval tv{static_cast<time_t>(timeout.count() / 1000),
             static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

// A fresh control block in its own memfd, mapped here. fd -1 on failure.
std::pair<int, ShmControl*> NewControl() {
  const int fd = memfd_create("kvc-transfer-control", MFD_CLOEXEC);
  if (fd < 0) return {-1, nullptr};
  void* p = MAP_FAILED;
  if (ftruncate(fd, internal::kShmControlBytes) == 0) {
    p = mmap(nullptr, internal::kShmControlBytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  }
  if (p == MAP_FAILED) {
    close(fd);
    return {-1, nullptr};
  }
  return {fd, new (p) ShmControl()};
}

void SetMessage(internal::ShmExportReply* reply, const std::string& message) {
  const size_t n = std::min(message.size(), sizeof(reply->message) - 1);
  std::memcpy(reply->message, message.data(), n);
}

}  // namespace

StatusOr<std::unique_ptr<ShmExportServer>> ShmExportServer::Start(
    Options options, internal::RegionTable* regions, internal::SharedMemoryPool* memory) {
  std::unique_ptr<ShmExportServer> server(new ShmExportServer(std::move(options), regions, memory));
  std::random_device random;
  server->name_ = absl::StrFormat("kvc-transfer-%d-%08x%08x", getpid(), random(), random());
  KVC_ASSIGN_OR_RETURN(server->listen_fd_, internal::ListenUnix(server->name_));
  server->wake_fd_ = eventfd(0, EFD_CLOEXEC);
  if (server->wake_fd_ < 0) {
    close(server->listen_fd_);
    return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
  }
  server->acceptor_ = std::thread([s = server.get()] { s->AcceptLoop(); });
  return server;
}

ShmExportServer::~ShmExportServer() {
  stopping_ = true;
  const uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof(one));  // wakes the acceptor's poll
  acceptor_.join();
  close(listen_fd_);
  close(wake_fd_);
  {
    std::lock_guard lock(mu_);
    for (Export& e : exports_) {
      e.control->state.store(ShmControl::kGone);
      Release(e);
    }
    exports_.clear();
    for (int fd : connections_) shutdown(fd, SHUT_RDWR);
  }
  tracker_.WaitAll();
}

void ShmExportServer::Release(Export& e) {
  munmap(e.control, internal::kShmControlBytes);
  e.control = nullptr;
}

void ShmExportServer::AcceptLoop() {
  while (!stopping_) {
    pollfd p[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
    if (poll(p, 2, -1) <= 0 || (p[0].revents & POLLIN) == 0) continue;  // -1: woken on stop
    const int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    auto session = std::make_shared<Session>();
    session->fd = fd;
    std::lock_guard lock(mu_);
    connections_.insert(fd);
    tracker_.Enter();
    std::thread([this, session] {
      Serve(session);
      DropSessionExports(session.get());
      {
        std::lock_guard lock(mu_);
        connections_.erase(session->fd);
        close(session->fd);
      }
      tracker_.Exit();
    }).detach();
  }
}

bool ShmExportServer::Authenticate(int fd) {
  char buffer[sizeof(internal::ShmHello) + internal::kShmMaxTokenBytes] = {};
  StatusOr<uint64_t> n = internal::ReceiveMessage(fd, buffer, sizeof(buffer));
  if (!n.ok() || *n < sizeof(internal::ShmHello)) return false;
  internal::ShmHello hello;
  std::memcpy(&hello, buffer, sizeof(hello));
  internal::ShmHelloReply reply;
  if (hello.magic != internal::kShmMagic || hello.version != internal::kShmVersion ||
      *n != sizeof(hello) + hello.token_length) {
    reply.code = static_cast<uint32_t>(absl::StatusCode::kFailedPrecondition);
  } else if (internal::PeerUid(fd) != static_cast<int64_t>(getuid())) {
    reply.code = static_cast<uint32_t>(absl::StatusCode::kPermissionDenied);
    Logger("transfer")->warn("refused shared-memory peer on @{}: another user", name_);
  } else if (!ConstantTimeEquals(std::string(buffer + sizeof(hello), hello.token_length),
                                 options_.cluster_token)) {
    reply.code = static_cast<uint32_t>(absl::StatusCode::kUnauthenticated);
    MetricsRegistry::Default()
        .GetCounter("kvc_transfer_auth_failures_total",
                    "Connections refused because of a wrong cluster token")
        .Increment();
    Logger("transfer")->warn("refused shared-memory peer on @{}: wrong cluster token", name_);
  }
  (void)internal::SendMessage(fd, &reply, sizeof(reply));
  return reply.code == 0;
}

void ShmExportServer::Serve(const std::shared_ptr<Session>& session) {
  SetReceiveTimeout(session->fd, options_.timeout);
  if (!Authenticate(session->fd)) return;
  SetReceiveTimeout(session->fd, std::chrono::milliseconds(0));  // idle peers may wait long
  while (!stopping_) {
    internal::ShmExportRequest request;
    StatusOr<uint64_t> n = internal::ReceiveMessage(session->fd, &request, sizeof(request));
    if (!n.ok() || *n != sizeof(request) || request.magic != internal::kShmMagic) return;
    if (!ServeExport(session, request)) return;
  }
}

bool ShmExportServer::ServeExport(const std::shared_ptr<Session>& session,
                                  const internal::ShmExportRequest& r) {
  internal::ShmExportReply reply;
  std::vector<int> fds;
  {
    std::lock_guard lock(mu_);
    StatusOr<std::pair<uint64_t, uint64_t>> region = regions_->FindRemote(r.address, r.length);
    const auto mine = std::count_if(exports_.begin(), exports_.end(),
                                    [&](const Export& e) { return e.session == session; });
    if (mine >= kMaxExportsPerSession) {
      reply.code = static_cast<uint32_t>(absl::StatusCode::kResourceExhausted);
      SetMessage(&reply, absl::StrCat("more than ", kMaxExportsPerSession, " exports to one peer"));
    } else if (!region.ok() || closing_.count(region->first) > 0) {
      reply.code = static_cast<uint32_t>(absl::StatusCode::kOutOfRange);
      SetMessage(&reply, region.ok() ? "the region is being unregistered"
                                     : std::string(region.status().message()));
    } else {
      reply.region_address = region->first;
      reply.region_length = region->second;
      const internal::SharedMemoryPool::Exportable memfd =
          memory_->FindExact(region->first, region->second);
      auto [control_fd, control] = memfd.fd >= 0 ? NewControl() : std::make_pair(-1, nullptr);
      if (control == nullptr) {
        reply.code = static_cast<uint32_t>(absl::StatusCode::kNotFound);
        SetMessage(&reply, "region is not one whole AllocateSharedMemory allocation");
      } else {
        reply.map_bytes = memfd.map_bytes;
        fds = {dup(memfd.fd), control_fd};  // dup under mu_: the region cannot be freed now
        exports_.push_back(Export{region->first, control, session});
      }
    }
  }
  const bool sent = internal::SendMessage(session->fd, &reply, sizeof(reply), fds).ok();
  for (int fd : fds) close(fd);
  return sent;
}

void ShmExportServer::DropSessionExports(const Session* session) {
  std::lock_guard lock(mu_);
  std::erase_if(exports_, [&](Export& e) {
    if (e.session.get() != session) return false;
    Release(e);
    return true;
  });
}

void ShmExportServer::Closing(uint64_t address) {
  std::lock_guard lock(mu_);
  closing_.insert(address);
  for (Export& e : exports_) {
    if (e.region == address) e.control->state.store(ShmControl::kClosing);
  }
}

bool ShmExportServer::Busy(uint64_t address) {
  std::lock_guard lock(mu_);
  for (const Export& e : exports_) {
    if (e.region == address && e.control->active.load() != 0) return true;
  }
  return false;
}

Status ShmExportServer::Drain(uint64_t address, std::chrono::steady_clock::time_point deadline) {
  while (Busy(address)) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrFormat(
          "region 0x%x: a same-host peer is still copying; it stays registered", address));
    }
    std::this_thread::sleep_for(std::chrono::microseconds(100));
  }
  return absl::OkStatus();
}

void ShmExportServer::Closed(uint64_t address, bool removed) {
  std::lock_guard lock(mu_);
  closing_.erase(address);
  std::erase_if(exports_, [&](Export& e) {
    if (e.region != address) return false;
    e.control->state.store(removed ? ShmControl::kGone : ShmControl::kOpen);
    if (!removed) return false;
    Release(e);
    return true;
  });
}

}  // namespace kvc::transfer

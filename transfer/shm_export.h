// The target side of the intra-host shared-mapping path. Listens on an abstract
// Unix socket (its name is published in the segment descriptor as shm_socket);
// a same-host peer connects, presents the cluster token (a wrong token is
// refused, logged and counted like on TCP; a peer of another uid is refused),
// then asks for the region holding an address. When that registered
// remote-accessible region is exactly one AllocateSharedMemory allocation, the
// reply carries its memfd (SCM_RIGHTS) and a per-(peer, region) control block;
// the peer maps both once and copies with memcpy, checking bounds against the
// region it was given. Only whole allocations are exported, so a peer never
// gets more than what was registered; other regions are answered "not
// exportable" and the peer uses cross-memory attach for them.
//
// Unregistering (RegionTable::RemovalHooks): Closing sets every control block of
// the region to kClosing (the peer refuses new copies), Drain waits until no
// peer copy is running (a peer whose connection closed no longer counts: its
// exports are dropped when the connection ends),
// Closed marks them kGone (the peer unmaps) or reopens them. Thread-safe; one
// thread per peer connection; the destructor marks every export gone, drops
// every connection and joins.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "kvc/common/status.h"
#include "transfer/internal/region_table.h"
#include "transfer/internal/shared_memory.h"
#include "transfer/internal/shm_wire.h"
#include "transfer/internal/thread_tracker.h"

namespace kvc::transfer {

class ShmExportServer final : public internal::RegionTable::RemovalHooks {
 public:
  struct Options {
    std::string cluster_token;
    std::chrono::milliseconds timeout{3000};  // per message once a request started
  };
  // `regions` and `memory` are borrowed and must outlive the server.
  [[nodiscard]] static StatusOr<std::unique_ptr<ShmExportServer>> Start(
      Options options, internal::RegionTable* regions, internal::SharedMemoryPool* memory);
  ~ShmExportServer() override;
  ShmExportServer(const ShmExportServer&) = delete;
  ShmExportServer& operator=(const ShmExportServer&) = delete;

  // The abstract socket name (without the leading NUL byte).
  const std::string& socket_name() const { return name_; }

  void Closing(uint64_t address) override;
  Status Drain(uint64_t address, std::chrono::steady_clock::time_point deadline) override;
  void Closed(uint64_t address, bool removed) override;

 private:
  struct Session {
    int fd = -1;
  };
  struct Export {
    uint64_t region = 0;
    internal::ShmControl* control = nullptr;  // our mapping of the control block
    std::shared_ptr<Session> session;
  };

  ShmExportServer(Options options, internal::RegionTable* regions,
                  internal::SharedMemoryPool* memory)
      : options_(std::move(options)), regions_(regions), memory_(memory) {}
  void AcceptLoop();
  void Serve(const std::shared_ptr<Session>& session);
  bool Authenticate(int fd);
  bool ServeExport(const std::shared_ptr<Session>& session, const internal::ShmExportRequest& r);
  void DropSessionExports(const Session* session);
  bool Busy(uint64_t address);
  static void Release(Export& e);

  const Options options_;
  internal::RegionTable* const regions_;
  internal::SharedMemoryPool* const memory_;
  std::string name_;
  int listen_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: wakes the acceptor when stopping
  std::thread acceptor_;
  std::atomic<bool> stopping_{false};
  internal::ThreadTracker tracker_;
  std::mutex mu_;
  std::set<int> connections_;    // guarded by mu_
  std::vector<Export> exports_;  // guarded by mu_
  std::set<uint64_t> closing_;   // guarded by mu_; regions being unregistered
};

}  // namespace kvc::transfer

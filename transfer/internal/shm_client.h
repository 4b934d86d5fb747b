// The peer side of the intra-host shared-mapping path (docs/transfer.md): one
// connection to a target's export socket, authenticated with the cluster token,
// and the regions it exported to us, each mapped once. A copy looks up (or asks
// for) the mapping of the region holding the slice, checks the slice against the
// region's bounds itself, and runs memcpy between the two mappings, bracketed by
// the region's control block so that the target's UnregisterMemory can refuse
// and wait for it. Regions the target does not export (not allocated with
// AllocateSharedMemory) are remembered; the caller copies those another way.
// Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "kvc/common/status.h"
#include "transfer/internal/channel.h"
#include "transfer/internal/shm_wire.h"

namespace kvc::transfer::internal {

class ShmClient {
 public:
  // Connects to the abstract socket `socket_name` and authenticates.
  // UNAUTHENTICATED for a wrong token; UNAVAILABLE when nobody answers in time.
  [[nodiscard]] static StatusOr<std::unique_ptr<ShmClient>> Connect(
      const std::string& socket_name, const std::string& token, std::chrono::milliseconds timeout,
      std::string peer_name);
  ~ShmClient();
  ShmClient(const ShmClient&) = delete;
  ShmClient& operator=(const ShmClient&) = delete;

  // Copies `slice` through the mapped region: OK, OUT_OF_RANGE (outside every
  // region, or the region is being unregistered), UNAVAILABLE (the target's
  // connection is gone: it died or stopped). nullopt: the region is not
  // exportable; copy it another way.
  std::optional<Status> Copy(const Slice& slice);

 private:
  struct Mapping {
    uint64_t address = 0;  // target's address of the region's first byte
    uint64_t length = 0;   // bytes the target registered
    char* base = nullptr;  // our mapping of the region
    uint64_t map_bytes = 0;
    ShmControl* control = nullptr;
    ~Mapping();
  };
  ShmClient(int fd, std::string peer_name) : fd_(fd), peer_name_(std::move(peer_name)) {}
  // The mapping holding [address, address+length); nullptr when the region is
  // not exportable.
  StatusOr<std::shared_ptr<Mapping>> MappingFor(uint64_t address, uint64_t length);
  StatusOr<std::shared_ptr<Mapping>> RequestLocked(uint64_t address, uint64_t length);
  void Forget(uint64_t address);
  bool TargetGone() const;
  Status Gone() const;

  const int fd_;
  const std::string peer_name_;
  std::mutex mu_;
  std::map<uint64_t, std::shared_ptr<Mapping>> mappings_;  // guarded by mu_; by address
  std::map<uint64_t, uint64_t> not_exportable_;            // guarded by mu_; address → length
};

}  // namespace kvc::transfer::internal

// SegmentDirectory: where engines publish their segment descriptor and find each
// other's by name. Implementations: an in-process map (tests, single process),
// a peer-to-peer handshake (the name is the peer's "ip:port" and the descriptor is
// fetched from the peer itself, authenticated with the cluster token); the store
// adds a master-backed one and a later issue an etcd-backed one.
//
// Thread-safe: every implementation may be called from many threads at once.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "kvc/common/status.h"
#include "kvc/transfer/segment.h"

namespace kvc::transfer {

class SegmentDirectory {
 public:
  virtual ~SegmentDirectory() = default;

  // Makes `descriptor` findable under descriptor.name, replacing an older one.
  [[nodiscard]] virtual Status Publish(const SegmentDescriptor& descriptor) = 0;
  // Removes the descriptor named `name`; NOT_FOUND when absent.
  [[nodiscard]] virtual Status Remove(const std::string& name) = 0;
  // The current descriptor of `name`. NOT_FOUND when nobody published it;
  // UNAVAILABLE / DEADLINE_EXCEEDED when the source cannot be reached in time.
  [[nodiscard]] virtual StatusOr<SegmentDescriptor> Fetch(const std::string& name) = 0;
};

// A map in this process. Shared by every engine given the same object.
std::unique_ptr<SegmentDirectory> MakeInProcessSegmentDirectory();

// Peer-to-peer: Fetch(name) connects to `name` ("ip:port" of a transfer engine's
// TCP target), authenticates with `cluster_token` and asks for its descriptor,
// giving up after `timeout`. Publish/Remove only keep a local copy (the owner
// serves its own descriptor), so Fetch of a locally published name needs no network.
std::unique_ptr<SegmentDirectory> MakePeerSegmentDirectory(
    std::string cluster_token, std::chrono::milliseconds timeout = std::chrono::seconds(3));

}  // namespace kvc::transfer

// The initiator half of the verbs backend for one remote segment: a set of paths
// (one RC QP each: local NIC × remote NIC × QP index), connected on demand by a
// connector thread through the QP handshake on the target's TCP endpoint
// (verbs_wire.h; the connection's hello carries the cluster token), and slices
// posted as RDMA READ / WRITE work requests.
//
// Per slice: the local NICs are ordered by the topology matrix for the local
// buffer's location (preferred NICs first, rotated per slice to spread over equally
// preferred ones, then secondary ones), the remote NICs by the target's matrix for
// the remote region's location (only NICs the region has an rkey for); the first
// path that is not down takes the slice. A path whose handshake fails, whose QP
// refuses a post or reports an error completion, or whose work misses its deadline
// is marked down for `path_down` (when the target itself cannot be reached or
// refuses the token, every path without a QP goes down and its slices are
// reported at once, so an unreachable peer costs one handshake timeout, not one
// per path). Its queued slices and its failed work (which
// did not complete: an RC QP stops at the first error) move to the next path that
// is not down, at most once per path, without using up the engine's attempts;
// when no path is left they are reported UNAVAILABLE (the engine may retry them
// later) with the last error. Work that missed its deadline is reported at once
// (UNAVAILABLE, the engine retries it on another path): a silent peer costs one
// peer timeout per engine attempt, not one per path. A remote-access error is final (OUT_OF_RANGE)
// for the slice that got it, and a refused cluster token (UNAUTHENTICATED) for all. Thread-safe;
// Close() before destruction.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kvc/transfer/segment.h"
#include "transfer/internal/channel.h"
#include "transfer/internal/topology.h"
#include "transfer/internal/verbs_context.h"
#include "transfer/internal/verbs_paths.h"

namespace kvc::transfer::internal {

struct VerbsPeerOptions {
  std::string cluster_token;
  std::chrono::milliseconds timeout{3000};    // handshake I/O (connect included)
  std::chrono::milliseconds path_down{1000};  // how long a failed path is skipped
  uint32_t qps_per_path = 2;                  // QPs between each pair of NICs
  Topology local_topology;
};

class VerbsPeer final : public VerbsWorkOwner, public std::enable_shared_from_this<VerbsPeer> {
 public:
  // UNAVAILABLE when `remote` publishes no verbs NIC or no TCP endpoint.
  [[nodiscard]] static StatusOr<std::shared_ptr<VerbsPeer>> Create(
      std::shared_ptr<VerbsContext> context, VerbsPeerOptions options,
      const SegmentDescriptor& remote);
  ~VerbsPeer() override;

  // Takes the slice; reports it through its sink exactly once (maybe at once,
  // on this thread, when no path is usable). Never blocks on the network.
  void Submit(Slice* slice);
  // Fails queued slices (CANCELLED), fails every QP, waits (≤ timeout) for
  // outstanding work to be flushed, reports what is left CANCELLED, joins the
  // connector and closes the handshake connection (the target then destroys its QPs).
  void Close();

  void OnWorkDone(Slice* slice, size_t path, const std::shared_ptr<VerbsQp>& qp, Status status,
                  bool timed_out) override;

  // Paths that have a connected QP now (tests).
  size_t connected_paths() const;

 private:
  using Clock = std::chrono::steady_clock;
  enum class State { kIdle, kConnecting, kUp, kDown };
  struct Path {
    VerbsPathId id;
    State state = State::kIdle;
    Clock::time_point down_until{};
    std::shared_ptr<VerbsQp> qp;  // kUp only
    uint32_t outstanding = 0;     // work posted on `qp` not yet reported
    std::deque<Slice*> backlog;   // waiting for the connect or for room on the QP
  };
  using Reports = std::vector<std::pair<Slice*, Status>>;

  VerbsPeer(std::shared_ptr<VerbsContext> context, VerbsPeerOptions options,
            const SegmentDescriptor& remote);
  size_t IndexOf(const VerbsPathId& id) const;
  std::string PathName(const Path& path) const;
  // The path for `slice`, or the reason none is usable.
  StatusOr<Path*> ChoosePathLocked(const Slice& slice, const RegionDescriptor& region);
  void EnqueueLocked(Path& path, Slice* slice, Reports* reports);
  void PostLocked(Path& path, Slice* slice, Reports* reports);
  void PumpLocked(Path& path, Reports* reports);
  void FailPathLocked(Path& path, const Status& why, Reports* reports);
  void RetryLocked(Slice* slice, const Status& why, Reports* reports);
  void DoneLocked(Slice* slice, Status status, Reports* reports);
  const RegionDescriptor* RegionOf(const Slice& slice) const;
  static void Report(Reports& reports);
  void ConnectorMain();
  // `peer_failed` is set when the target itself could not be reached or
  // authenticated (as opposed to refusing this one path).
  StatusOr<std::shared_ptr<VerbsQp>> ConnectPath(const VerbsPathId& id, bool* peer_failed);
  StatusOr<std::string> Exchange(const std::string& request, bool* peer_failed);
  // The handshake connection failed: every path without a QP goes down and its
  // queued slices are reported (not moved: the other paths need the same target).
  void FailUnconnectedLocked(const Status& why, Reports* reports);

  const std::shared_ptr<VerbsContext> context_;
  const VerbsPeerOptions options_;
  const std::string name_;
  const std::string endpoint_;                   // target's TCP endpoint (handshake)
  const std::vector<std::string> remote_nics_;   // the remote's verbs_nics
  const std::vector<RegionDescriptor> regions_;  // the remote's regions (rkeys)
  Topology remote_topology_;                     // constant after construction
  std::thread connector_;

  mutable std::mutex mu_;
  std::condition_variable connect_wanted_;
  std::vector<Path> paths_;           // guarded by mu_; see IndexOf
  std::deque<size_t> connect_queue_;  // guarded by mu_; path indices
  std::map<Slice*, size_t> moves_;    // guarded by mu_; slices moved after a path failure
  uint64_t rotation_ = 0;             // guarded by mu_; slices seen
  std::string last_error_ = "none";   // guarded by mu_
  bool closing_ = false;              // guarded by mu_
  int handshake_fd_ = -1;             // guarded by mu_ (used by the connector only)
  uint64_t handshake_sequence_ = 0;   // connector only
};

}  // namespace kvc::transfer::internal

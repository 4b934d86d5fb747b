// One pooled TCP connection of the TCP backend to a peer's target: a sender
// thread (connect, authenticate, then one writev per slice: header + payload) and
// a receiver thread (responses in order; read data lands directly in the slice's
// local buffer). Requests are pipelined: the sender never waits for replies.
//
// When anything fails the connection breaks for good: slices not yet answered
// are reported UNAVAILABLE with the reason (the engine retries them elsewhere),
// and Enqueue refuses new ones. A write that was sent but not answered carries
// this connection's id in Slice::fences: whichever connection retries it first
// sends a FENCE for that id (the connection names itself with SET_ID after the
// hello), so the target finishes this connection before applying the retry and
// a late first attempt never lands after it. A slice is only failed once the
// sender is no longer reading its buffer. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "transfer/internal/channel.h"
#include "transfer/internal/thread_tracker.h"

namespace kvc::transfer::internal {

// Client half of the hello (docs/transfer.md): sends the token, reads the verdict.
// UNAUTHENTICATED when the target refused the token; UNAVAILABLE on I/O errors.
[[nodiscard]] Status AuthenticateClient(int fd, const std::string& endpoint,
                                        const std::string& token);

class TcpConnection : public std::enable_shared_from_this<TcpConnection> {
 public:
  struct Params {
    std::string endpoint;  // "ip:port"
    std::string token;
    std::chrono::milliseconds timeout{3000};
    ThreadTracker* tracker = nullptr;  // must outlive the threads (the owner waits on it)
    // Called (from the sender thread, no lock held) when connect/auth fails.
    std::function<void(const Status&)> on_connect_failed;
  };
  explicit TcpConnection(Params params);
  ~TcpConnection();

  // Starts the threads. Call once, right after construction.
  void Start();
  // Queues `slice`; false (slice untouched) when the connection is broken.
  bool Enqueue(Slice* slice);
  // Breaks the connection; pending slices are reported with `why`.
  void Close(const Status& why);
  bool broken() const;
  // Slices queued or awaiting a reply.
  size_t Load() const;

 private:
  void SenderMain();
  void ReceiverMain();
  void TakeGroupLocked(std::vector<Slice*>* group);  // REQUIRES: mu_ held
  Status SendGroup(int fd, const std::vector<Slice*>& group, uint64_t* sequence);
  Status SendDropped(int fd, Slice* slice, uint64_t sequence);
  Status ReceiveReply(int fd, Slice* slice, uint64_t sequence, Status* slice_status);
  void Break(const Status& why);  // REQUIRES: mu_ held

  const Params params_;
  const uint64_t id_;  // random, named to the target with SET_ID
  mutable std::mutex mu_;
  std::condition_variable work_;
  std::deque<Slice*> queue_;     // guarded by mu_; not yet sent
  std::deque<Slice*> inflight_;  // guarded by mu_; sent, awaiting reply (FIFO)
  bool broken_ = false;          // guarded by mu_
  bool sending_ = false;         // guarded by mu_; the sender is reading slice buffers
  // The group the sender is writing now, and replies that came back for slices
  // of it before its sendmsg returned: those complete only once the sender is
  // done with their buffers (it completes them), so a caller that reuses a
  // buffer after its slice is done never races the sender reading it.
  std::vector<Slice*> sending_group_;                  // guarded by mu_
  std::vector<std::pair<Slice*, Status>> early_done_;  // guarded by mu_
  Status why_broken_;                                  // guarded by mu_
  int fd_ = -1;                                        // guarded by mu_ (set once by the sender)
};

}  // namespace kvc::transfer::internal

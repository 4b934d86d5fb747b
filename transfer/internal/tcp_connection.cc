#include "transfer/internal/tcp_connection.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <random>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "transfer/internal/socket_util.h"
#include "transfer/internal/wire.h"

namespace kvc::transfer::internal {
namespace {

uint64_t RandomId() {
  std::random_device random;
  return (uint64_t{random()} << 32 | random()) | 1;  // never 0
}

RequestFrame Frame(WireOp op, uint64_t sequence, uint64_t address, uint64_t length) {
  RequestFrame frame;
  frame.op = static_cast<uint8_t>(op);
  frame.sequence = sequence;
  frame.address = address;
  frame.length = length;
  return frame;
}

void FailAll(std::vector<Slice*>& slices, const Status& why) {
  for (Slice* s : slices) s->sink->OnSliceDone(s, why);
  slices.clear();
}

}  // namespace

Status AuthenticateClient(int fd, const std::string& endpoint, const std::string& token) {
  HelloFrame hello;
  hello.token_length = static_cast<uint16_t>(token.size());
  iovec iov[2] = {{&hello, sizeof(hello)}, {const_cast<char*>(token.data()), token.size()}};
  KVC_RETURN_IF_ERROR(SendAll(fd, iov, 2));
  HelloReplyFrame reply;
  Status s = RecvAll(fd, &reply, sizeof(reply));
  if (!s.ok())
    return absl::UnavailableError(absl::StrCat("handshake with ", endpoint, ": ", s.message()));
  if (reply.magic != kWireMagic) {
    return absl::UnavailableError(absl::StrCat(endpoint, " is not a kvc transfer target"));
  }
  if (reply.code == static_cast<uint32_t>(absl::StatusCode::kUnauthenticated)) {
    return absl::UnauthenticatedError(
        absl::StrCat(endpoint, " refused our cluster token (check transfer.cluster_token)"));
  }
  if (reply.code != 0) {
    return absl::UnavailableError(
        absl::StrCat(endpoint, " refused the handshake, code ", reply.code));
  }
  return absl::OkStatus();
}

TcpConnection::TcpConnection(Params params) : params_(std::move(params)), id_(RandomId()) {}

TcpConnection::~TcpConnection() {
  if (fd_ >= 0) close(fd_);
}

void TcpConnection::Start() {
  params_.tracker->Enter();
  std::thread([self = shared_from_this()]() mutable {
    ThreadTracker* tracker = self->params_.tracker;
    self->SenderMain();
    self.reset();
    tracker->Exit();
  }).detach();
}

bool TcpConnection::Enqueue(Slice* slice) {
  std::lock_guard lock(mu_);
  if (broken_) return false;
  queue_.push_back(slice);
  work_.notify_all();
  return true;
}

void TcpConnection::Close(const Status& why) {
  std::lock_guard lock(mu_);
  Break(why);
}

bool TcpConnection::broken() const {
  std::lock_guard lock(mu_);
  return broken_;
}

size_t TcpConnection::Load() const {
  std::lock_guard lock(mu_);
  return queue_.size() + inflight_.size();
}

void TcpConnection::Break(const Status& why) {
  if (broken_) return;
  broken_ = true;
  why_broken_ = why;
  if (fd_ >= 0) shutdown(fd_, SHUT_RDWR);
  work_.notify_all();
}

void TcpConnection::SenderMain() {
  StatusOr<int> fd = ConnectTcp(params_.endpoint, params_.timeout);
  Status status = fd.ok() ? AuthenticateClient(*fd, params_.endpoint, params_.token) : fd.status();
  if (status.ok()) {
    RequestFrame set_id = Frame(WireOp::kSetId, 0, id_, 0);
    status = SendAll(*fd, &set_id, sizeof(set_id));
  }
  if (!status.ok()) {
    if (fd.ok()) close(*fd);
    params_.on_connect_failed(status);
    std::vector<Slice*> failed;
    {
      std::lock_guard lock(mu_);
      Break(status);
      failed.assign(queue_.begin(), queue_.end());
      queue_.clear();
    }
    FailAll(failed, status);
    return;
  }
  {
    std::lock_guard lock(mu_);
    fd_ = *fd;
    if (broken_) shutdown(fd_, SHUT_RDWR);
  }
  params_.tracker->Enter();
  std::thread([self = shared_from_this()]() mutable {
    ThreadTracker* tracker = self->params_.tracker;
    self->ReceiverMain();
    self.reset();
    tracker->Exit();
  }).detach();

  uint64_t sequence = 0;
  std::vector<Slice*> group;
  while (true) {
    std::vector<Slice*> failed;
    Status why;
    group.clear();
    {
      std::unique_lock lock(mu_);
      work_.wait(lock, [&] { return broken_ || !queue_.empty(); });
      if (broken_) {
        failed.assign(queue_.begin(), queue_.end());
        queue_.clear();
        why = why_broken_;
      } else {
        TakeGroupLocked(&group);
        sending_ = true;
        sending_group_ = group;
        work_.notify_all();
      }
    }
    if (group.empty()) {
      FailAll(failed, why);
      return;
    }
    Status sent = SendGroup(*fd, group, &sequence);
    std::vector<std::pair<Slice*, Status>> done;
    {
      std::lock_guard lock(mu_);
      sending_ = false;
      sending_group_.clear();
      done.swap(early_done_);
      work_.notify_all();
      if (!sent.ok()) {
        Break(absl::UnavailableError(absl::StrCat("connection to ", params_.endpoint,
                                                  " lost while sending: ", sent.message())));
      }
    }
    for (auto& [slice, status] : done) slice->sink->OnSliceDone(slice, status);
  }
}

// Moves up to kMaxGroup queued slices (at most kMaxGroupBytes of payload) to
// inflight_, so that one sendmsg carries all of them. A slice marked for an
// injected drop always travels alone.
void TcpConnection::TakeGroupLocked(std::vector<Slice*>* group) {
  constexpr size_t kMaxGroup = 32;
  constexpr uint64_t kMaxGroupBytes = 2 << 20;
  uint64_t bytes = 0;
  while (!queue_.empty() && group->size() < kMaxGroup) {
    Slice* next = queue_.front();
    const uint64_t payload = next->op == TransferOp::kWrite ? next->length : 0;
    if (!group->empty() && (next->drop_connection || group->front()->drop_connection ||
                            bytes + payload > kMaxGroupBytes)) {
      break;
    }
    queue_.pop_front();
    inflight_.push_back(next);
    group->push_back(next);
    bytes += payload;
  }
}

// One sendmsg for the whole group: [FENCE frames of a retried write] request
// header [payload] for each slice.
Status TcpConnection::SendGroup(int fd, const std::vector<Slice*>& group, uint64_t* sequence) {
  if (group.size() == 1 && group[0]->drop_connection) {
    return SendDropped(fd, group[0], (*sequence)++);
  }
  size_t fences = 0;
  for (const Slice* slice : group) fences += slice->fences.size();
  std::vector<RequestFrame> frames;
  frames.reserve(group.size() + fences);  // no reallocation: iov points into it
  std::vector<iovec> iov;
  iov.reserve(2 * group.size() + fences);
  for (Slice* slice : group) {
    for (uint64_t fence : slice->fences) {
      frames.push_back(Frame(WireOp::kFence, 0, fence, 0));
      iov.push_back({&frames.back(), sizeof(RequestFrame)});
    }
    const bool write = slice->op == TransferOp::kWrite;
    frames.push_back(
        Frame(write ? WireOp::kWrite : WireOp::kRead, (*sequence)++, slice->remote, slice->length));
    iov.push_back({&frames.back(), sizeof(RequestFrame)});
    if (write) iov.push_back({slice->local, slice->length});
  }
  return SendAll(fd, iov.data(), static_cast<int>(iov.size()));
}

// Fault injection: half the slice, then the caller breaks the connection.
Status TcpConnection::SendDropped(int fd, Slice* slice, uint64_t sequence) {
  const bool write = slice->op == TransferOp::kWrite;
  RequestFrame frame =
      Frame(write ? WireOp::kWrite : WireOp::kRead, sequence, slice->remote, slice->length);
  iovec iov[2] = {{&frame, sizeof(frame)}, {slice->local, slice->length / 2}};
  (void)SendAll(fd, iov, write ? 2 : 1);
  return absl::UnavailableError("connection dropped by fault injection");
}

void TcpConnection::ReceiverMain() {
  uint64_t sequence = 0;
  while (true) {
    Slice* slice = nullptr;
    std::vector<Slice*> failed;
    Status why;
    int fd = -1;
    {
      std::unique_lock lock(mu_);
      work_.wait(lock, [&] { return (broken_ && !sending_) || (!broken_ && !inflight_.empty()); });
      if (broken_) {
        failed.assign(inflight_.begin(), inflight_.end());
        inflight_.clear();
        why = why_broken_;
        for (Slice* s : failed) {  // sent, unanswered: the retry must fence us
          if (s->op == TransferOp::kWrite) s->fences.push_back(id_);
        }
      } else {
        slice = inflight_.front();
        fd = fd_;
      }
    }
    if (slice == nullptr) {
      FailAll(failed, why);
      return;
    }
    Status slice_status;
    Status io = ReceiveReply(fd, slice, sequence++, &slice_status);
    {
      std::lock_guard lock(mu_);
      if (!io.ok()) {
        Break(absl::UnavailableError(
            absl::StrCat("connection to ", params_.endpoint, " lost: ", io.message())));
      }
      if (broken_) continue;  // the slice is failed with the rest; its data may be partial
      inflight_.pop_front();
      if (std::find(sending_group_.begin(), sending_group_.end(), slice) != sending_group_.end()) {
        early_done_.emplace_back(slice, slice_status);  // the sender completes it
        continue;
      }
    }
    slice->sink->OnSliceDone(slice, slice_status);
  }
}

Status TcpConnection::ReceiveReply(int fd, Slice* slice, uint64_t sequence, Status* slice_status) {
  ResponseFrame frame;
  KVC_RETURN_IF_ERROR(RecvAll(fd, &frame, sizeof(frame)));
  if (frame.sequence != sequence || frame.message_length > 4096) {
    return absl::DataLossError("protocol error: reply out of sequence");
  }
  std::string message(frame.message_length, '\0');
  KVC_RETURN_IF_ERROR(RecvAll(fd, message.data(), message.size()));
  if (frame.code != 0) {
    *slice_status = Status(static_cast<absl::StatusCode>(frame.code),
                           absl::StrCat("target ", params_.endpoint, " refused: ", message));
    return absl::OkStatus();
  }
  if (slice->op == TransferOp::kRead) {
    if (frame.length != slice->length)
      return absl::DataLossError("protocol error: short read reply");
    KVC_RETURN_IF_ERROR(RecvAll(fd, slice->local, slice->length));
  }
  *slice_status = absl::OkStatus();
  return absl::OkStatus();
}

}  // namespace kvc::transfer::internal

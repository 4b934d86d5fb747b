#include "transfer/tcp_target.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "kvc/common/logging.h"
#include "transfer/internal/socket_util.h"
#include "transfer/internal/wire.h"

namespace kvc::transfer {
namespace {

using internal::RecvAll;
using internal::SendAll;

bool Reply(int fd, uint64_t sequence, const Status& status, const void* data, uint64_t length) {
  internal::ResponseFrame frame;
  frame.sequence = sequence;
  frame.code = static_cast<uint32_t>(status.code());
  const std::string message(status.message().substr(0, 4096));
  frame.message_length = static_cast<uint32_t>(message.size());
  frame.length = status.ok() ? length : 0;
  iovec iov[3] = {{&frame, sizeof(frame)},
                  {const_cast<char*>(message.data()), message.size()},
                  {const_cast<void*>(data), status.ok() ? length : 0}};
  return SendAll(fd, iov, 3).ok();
}

// Reads and discards `length` payload bytes so the stream stays in step.
bool Drain(int fd, uint64_t length) {
  std::vector<char> scratch(std::min<uint64_t>(length, 1 << 20));
  while (length > 0) {
    const uint64_t n = std::min<uint64_t>(length, scratch.size());
    if (!RecvAll(fd, scratch.data(), n).ok()) return false;
    length -= n;
  }
  return true;
}

std::string PeerName(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof(addr);
  char ip[INET_ADDRSTRLEN] = "?";
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    inet_ntop(AF_INET, &addr.sin_addr, ip, sizeof(ip));
  }
  return absl::StrCat(ip, ":", ntohs(addr.sin_port));
}

}  // namespace

StatusOr<std::unique_ptr<TcpTarget>> TcpTarget::Start(Options options,
                                                      internal::RegionTable* regions,
                                                      std::function<std::string()> json) {
  std::string host;
  int port = 0;
  KVC_RETURN_IF_ERROR(internal::ParseHostPort(options.listen_address, &host, &port));
  int bound = 0;
  KVC_ASSIGN_OR_RETURN(int fd, internal::ListenTcp(options.listen_address, &bound));
  std::unique_ptr<TcpTarget> target(new TcpTarget(std::move(options), regions, std::move(json)));
  target->address_ = absl::StrCat(host == "localhost" ? "127.0.0.1" : host, ":", bound);
  const Options& o = target->options_;
  KVC_ASSIGN_OR_RETURN(
      target->acceptor_,
      internal::TcpAcceptor::Start(
          {o.cluster_token, o.max_connections, o.max_connections_per_peer, o.handshake_timeout,
           o.timeout},
          fd, [t = target.get()](int fd, const std::string& ip, const std::string& /*peer*/) {
            t->StartServing(fd, ip);
          }));
  return target;
}

TcpTarget::~TcpTarget() {
  stopping_ = true;
  acceptor_->Stop();  // no new connection from here on
  {
    std::lock_guard lock(mu_);
    for (int fd : connections_) shutdown(fd, SHUT_RDWR);
  }
  tracker_.WaitAll();
}

// On the acceptor's thread, for an authenticated connection.
void TcpTarget::StartServing(int fd, const std::string& peer_ip) {
  std::lock_guard lock(mu_);
  if (stopping_) {
    close(fd);
    acceptor_->Closed(peer_ip);
    return;
  }
  connections_.insert(fd);
  tracker_.Enter();
  std::thread([this, fd, peer_ip] {
    Serve(fd);
    {
      std::lock_guard lock(mu_);
      connections_.erase(fd);
      close(fd);
    }
    acceptor_->Closed(peer_ip);
    tracker_.Exit();
  }).detach();
}

void TcpTarget::Serve(int fd) {
  Connection connection;
  connection.fd = fd;
  connection.serial = next_serial_++;
  std::string acks;  // write replies held back while more requests are already buffered
  while (!stopping_ && !connection.fenced && ServeOne(connection, &acks)) {
  }
  if (connection.verbs && options_.verbs_disconnect) options_.verbs_disconnect(connection.serial);
  std::lock_guard lock(mu_);
  if (connection.id != 0) by_id_.erase(connection.id);
  connection.done = true;
  connection_done_.notify_all();
}

bool TcpTarget::Name(Connection& connection, uint64_t id) {
  std::lock_guard lock(mu_);
  if (connection.id != 0 || id == 0 || by_id_.count(id) > 0) return false;
  connection.id = id;
  by_id_[id] = &connection;
  return true;
}

// Stops the connection named `id` and waits until its thread is out of the
// request it is serving. False (close this connection too) when that takes
// longer than the timeout.
bool TcpTarget::Fence(const Connection& self, uint64_t id) {
  std::unique_lock lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return true;  // never seen, or already finished
  Connection* abandoned = it->second;
  if (abandoned == &self) return false;
  abandoned->fenced = true;
  shutdown(abandoned->fd, SHUT_RDWR);  // wakes it in recv/send; fd stays open until it ends
  return connection_done_.wait_for(lock, options_.timeout, [&] { return by_id_.count(id) == 0; });
}

// Answers one verbs QP handshake; false when the connection should close.
bool TcpTarget::VerbsConnect(Connection& connection, uint64_t sequence, uint64_t length) {
  if (length > internal::kMaxVerbsConnectBytes) {
    Logger("transfer")
        ->warn("closing connection {}: oversized verbs handshake", PeerName(connection.fd));
    return false;
  }
  std::string request(length, '\0');
  if (!RecvAll(connection.fd, request.data(), length).ok()) return false;
  StatusOr<std::string> reply = absl::UnimplementedError("this target has no verbs backend");
  if (options_.verbs_connect) {
    connection.verbs = true;
    reply = options_.verbs_connect(connection.serial, request);
  }
  if (!reply.ok()) return Reply(connection.fd, sequence, reply.status(), nullptr, 0);
  return Reply(connection.fd, sequence, absl::OkStatus(), reply->data(), reply->size());
}

// Sends the held write replies. Replies stay in request order: every other reply
// flushes these first.
static bool FlushAcks(int fd, std::string* acks) {
  if (acks->empty()) return true;
  const bool ok = SendAll(fd, acks->data(), acks->size()).ok();
  acks->clear();
  return ok;
}

// Holds a write's OK reply while the next request is already waiting in the socket
// (one send then answers many slices); flushes before the thread could block.
static bool Acknowledge(int fd, uint64_t sequence, std::string* acks) {
  internal::ResponseFrame frame;
  frame.sequence = sequence;
  acks->append(reinterpret_cast<const char*>(&frame), sizeof(frame));
  int readable = 0;
  if (ioctl(fd, FIONREAD, &readable) != 0) readable = 0;
  if (readable > 0 && acks->size() < 64 * sizeof(frame)) return true;
  return FlushAcks(fd, acks);
}

// Serves one request; false when the connection should close.
bool TcpTarget::ServeOne(Connection& connection, std::string* acks) {
  const int fd = connection.fd;
  internal::RequestFrame frame;
  Status s = RecvAll(fd, &frame, sizeof(frame), /*idle_ok=*/true);
  if (internal::IsIdle(s)) return true;
  if (!s.ok()) return false;
  const auto op = static_cast<internal::WireOp>(frame.op);
  if (op == internal::WireOp::kSetId) return Name(connection, frame.address);
  if (op == internal::WireOp::kFence)
    return FlushAcks(fd, acks) && Fence(connection, frame.address);
  if (op == internal::WireOp::kVerbsConnect) {
    return FlushAcks(fd, acks) && VerbsConnect(connection, frame.sequence, frame.length);
  }
  if ((op != internal::WireOp::kRead && op != internal::WireOp::kWrite &&
       op != internal::WireOp::kGetSegment) ||
      frame.length > internal::kMaxFrameBytes) {
    Logger("transfer")->warn("closing connection {}: malformed request", PeerName(fd));
    return false;
  }
  if (op == internal::WireOp::kGetSegment) {
    const std::string json = descriptor_json_();
    return FlushAcks(fd, acks) &&
           Reply(fd, frame.sequence, absl::OkStatus(), json.data(), json.size());
  }
  if (connection.fenced) return false;  // abandoned by its initiator: serve nothing more
  // The bounds check: nothing outside a registered remote-accessible region is touched.
  StatusOr<uint64_t> pin = regions_->Pin(frame.address, frame.length, /*remote=*/true);
  if (!pin.ok()) {
    if (op == internal::WireOp::kWrite && !Drain(fd, frame.length)) return false;
    return FlushAcks(fd, acks) && Reply(fd, frame.sequence, pin.status(), nullptr, 0);
  }
  void* memory = reinterpret_cast<void*>(frame.address);
  bool ok;
  if (op == internal::WireOp::kWrite) {
    ok = RecvAll(fd, memory, frame.length).ok();
    regions_->Unpin(*pin);
    return ok && Acknowledge(fd, frame.sequence, acks);
  }
  ok = FlushAcks(fd, acks) && Reply(fd, frame.sequence, absl::OkStatus(), memory, frame.length);
  regions_->Unpin(*pin);
  return ok;
}

}  // namespace kvc::transfer

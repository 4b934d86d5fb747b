#include "conductor/worker_clients.h"

#include "kvc/rpc/auth.h"
#include "kvc/rpc/client.h"

namespace kvc::conductor {

WorkerClients::Peer& WorkerClients::PeerOf(const std::string& address) {
  std::lock_guard lock(mu_);
  Peer& p = peers_[address];
  if (!p.channel) {
    p.channel = MakeChannel(address);
    p.prefill = kvc::v1::Prefill::NewStub(p.channel);
    p.decode = kvc::v1::Decode::NewStub(p.channel);
  }
  return p;
}

kvc::v1::Prefill::Stub& WorkerClients::Prefill(const std::string& address) {
  return *PeerOf(address).prefill;
}

kvc::v1::Decode::Stub& WorkerClients::Decode(const std::string& address) {
  return *PeerOf(address).decode;
}

void WorkerClients::Prepare(grpc::ClientContext& ctx, std::chrono::milliseconds timeout) const {
  PrepareUntil(ctx, std::chrono::system_clock::now() + timeout);
}

void WorkerClients::PrepareUntil(grpc::ClientContext& ctx,
                                 std::chrono::system_clock::time_point deadline) const {
  ctx.set_deadline(deadline);
  AddBearerToken(&ctx, token_);
}

}  // namespace kvc::conductor

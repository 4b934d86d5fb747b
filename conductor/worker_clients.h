// Stubs for the workers' Prefill and Decode services, one channel per worker
// address (created on first use, kept), and a holder for one asynchronous unary
// call. Thread-safe.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "kvc/v1/decode.grpc.pb.h"
#include "kvc/v1/prefill.grpc.pb.h"

namespace kvc::conductor {

class WorkerClients {
 public:
  explicit WorkerClients(std::string cluster_token) : token_(std::move(cluster_token)) {}

  kvc::v1::Prefill::Stub& Prefill(const std::string& address);
  kvc::v1::Decode::Stub& Decode(const std::string& address);
  // Sets the deadline and the cluster token on a call's context.
  void Prepare(grpc::ClientContext& ctx, std::chrono::milliseconds timeout) const;
  void PrepareUntil(grpc::ClientContext& ctx, std::chrono::system_clock::time_point deadline) const;

 private:
  struct Peer {
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<kvc::v1::Prefill::Stub> prefill;
    std::unique_ptr<kvc::v1::Decode::Stub> decode;
  };
  Peer& PeerOf(const std::string& address);

  const std::string token_;
  std::mutex mu_;
  std::map<std::string, Peer> peers_;  // guarded by mu_; entries never removed
};

// One asynchronous unary call: context, request and response live here until the
// callback has run.
template <typename Req, typename Resp>
struct UnaryCall {
  grpc::ClientContext ctx;
  Req request;
  Resp response;
};

}  // namespace kvc::conductor

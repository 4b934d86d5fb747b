// Test seam: in-process fakes of the kvc.v1.Prefill and kvc.v1.Decode services that
// follow the serving contract (docs/serving.md) closely enough to drive the
// conductor's pipeline: Reserve hands out descriptors and refuses with NO_KV_SPACE
// when full, Prefill checks the descriptors and answers a scripted first token,
// Decode streams a scripted continuation, Cancel frees everything. Faults are
// switched on per test. Each fake runs on its own gRPC server on 127.0.0.1.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "kvc/v1/decode.grpc.pb.h"
#include "kvc/v1/prefill.grpc.pb.h"

namespace kvc::conductor::testing {

class FakePrefill final : public kvc::v1::Prefill::Service {
 public:
  FakePrefill(std::string token, uint32_t block_tokens)
      : token_(std::move(token)), b_(block_tokens) {}

  grpc::Status Prefill(grpc::ServerContext*, const kvc::v1::PrefillRequest*,
                       kvc::v1::PrefillResponse*) override;
  grpc::Status Cancel(grpc::ServerContext*, const kvc::v1::CancelRequest*,
                      kvc::v1::CancelResponse*) override;

  // Script and faults (set before requests arrive).
  uint32_t first_token = 'H';
  uint32_t cached_tokens = 0;
  bool fail = false;  // answer UNAVAILABLE
  bool hold = false;  // Prefill waits (up to 10 s) until cancelled, then answers CANCELLED
  bool cancel_writes_done = false;  // Cancel answers kv_writes_done

  // Observations.
  int requests() const;
  std::vector<kvc::v1::PrefillRequest> seen() const;
  std::set<std::string> cancelled() const;

 private:
  const std::string token_;
  const uint32_t b_;
  mutable std::mutex mu_;
  std::vector<kvc::v1::PrefillRequest> seen_;
  std::set<std::string> cancelled_;
  std::condition_variable cancelled_cv_;
};

class FakeDecode final : public kvc::v1::Decode::Service {
 public:
  FakeDecode(std::string token, uint32_t block_tokens, uint64_t total_blocks)
      : token_(std::move(token)), b_(block_tokens), total_(total_blocks) {}

  grpc::Status Reserve(grpc::ServerContext*, const kvc::v1::ReserveRequest*,
                       kvc::v1::ReserveResponse*) override;
  grpc::Status Decode(grpc::ServerContext*, const kvc::v1::DecodeRequest*,
                      grpc::ServerWriter<kvc::v1::DecodeResponse>*) override;
  grpc::Status Cancel(grpc::ServerContext*, const kvc::v1::CancelRequest*,
                      kvc::v1::CancelResponse*) override;

  // Script and faults.
  std::vector<uint32_t> script = {'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'};
  std::string script_end = "stop";     // finish reason when the script runs out
  std::chrono::milliseconds delay{0};  // between messages
  int die_after = -1;                  // messages before failing UNAVAILABLE (-1 = never)
  int hang_after = -1;  // messages before going silent, stream open, until cancelled (-1 = never)

  // Observations.
  uint64_t used_blocks() const;  // reserved and not freed
  int reserves() const;
  int streams() const;
  std::set<std::string> cancelled() const;  // by Cancel RPC or a cancelled stream
  // Waits until `id` was cancelled (bounded).
  bool WaitCancelled(const std::string& id, std::chrono::milliseconds timeout) const;
  std::vector<kvc::v1::DecodeRequest> seen() const;
  std::vector<kvc::v1::ReserveRequest> reserve_requests() const;
  std::vector<kvc::v1::CancelRequest> cancel_requests() const;

 private:
  void Free(const std::string& id);  // REQUIRES: mu_ held

  const std::string token_;
  const uint32_t b_;
  const uint64_t total_;
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::map<std::string, uint64_t> reserved_;  // request id -> committed blocks
  uint64_t used_ = 0;
  int reserves_ = 0, streams_ = 0;
  std::set<std::string> cancelled_;
  std::vector<kvc::v1::DecodeRequest> seen_;
  std::vector<kvc::v1::ReserveRequest> reserve_requests_;
  std::vector<kvc::v1::CancelRequest> cancel_requests_;
};

// A gRPC server on 127.0.0.1:<ephemeral> serving one service.
class FakeServer {
 public:
  explicit FakeServer(grpc::Service* service);
  ~FakeServer();
  const std::string& address() const { return address_; }
  void Stop();

 private:
  std::unique_ptr<grpc::Server> server_;
  std::string address_;
};

}  // namespace kvc::conductor::testing

#include "conductor/fake_workers.h"

#include <thread>

#include "kvc/common/reason.h"
#include "kvc/rpc/auth.h"
#include "kvc/rpc/grpc_status.h"

namespace kvc::conductor::testing {
namespace {

grpc::Status Refuse(grpc::StatusCode code, const std::string& message, Reason reason) {
  return ToGrpcStatus(WithReason(Status(static_cast<absl::StatusCode>(code), message), reason));
}

}  // namespace

grpc::Status FakePrefill::Prefill(grpc::ServerContext* ctx, const kvc::v1::PrefillRequest* req,
                                  kvc::v1::PrefillResponse* resp) {
  if (Status s = CheckBearerToken(*ctx, token_); !s.ok()) return ToGrpcStatus(s);
  {
    std::unique_lock lock(mu_);
    seen_.push_back(*req);
    if (hold) {
      const std::string& id = req->header().request_id();
      cancelled_cv_.wait_for(lock, std::chrono::seconds(10),
                             [&] { return ctx->IsCancelled() || cancelled_.count(id) > 0; });
      return grpc::Status::CANCELLED;
    }
  }
  if (fail) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "fake prefill is broken");
  const size_t want = (req->token_ids_size() + b_ - 1) / b_;
  if (static_cast<size_t>(req->decode_kv_size()) != want) {
    return Refuse(grpc::StatusCode::INVALID_ARGUMENT, "descriptor count",
                  Reason::kKvLayoutMismatch);
  }
  resp->set_first_token_id(first_token);
  resp->set_cached_tokens(cached_tokens);
  resp->set_computed_tokens(req->token_ids_size() - cached_tokens);
  return grpc::Status::OK;
}

grpc::Status FakePrefill::Cancel(grpc::ServerContext* ctx, const kvc::v1::CancelRequest* req,
                                 kvc::v1::CancelResponse* resp) {
  if (Status s = CheckBearerToken(*ctx, token_); !s.ok()) return ToGrpcStatus(s);
  std::lock_guard lock(mu_);
  cancelled_.insert(req->header().request_id());
  cancelled_cv_.notify_all();
  resp->set_kv_writes_done(cancel_writes_done);
  return grpc::Status::OK;
}

int FakePrefill::requests() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(seen_.size());
}

std::vector<kvc::v1::PrefillRequest> FakePrefill::seen() const {
  std::lock_guard lock(mu_);
  return seen_;
}

std::set<std::string> FakePrefill::cancelled() const {
  std::lock_guard lock(mu_);
  return cancelled_;
}

grpc::Status FakeDecode::Reserve(grpc::ServerContext* ctx, const kvc::v1::ReserveRequest* req,
                                 kvc::v1::ReserveResponse* resp) {
  if (Status s = CheckBearerToken(*ctx, token_); !s.ok()) return ToGrpcStatus(s);
  const uint64_t prompt_blocks = (req->prompt_tokens() + b_ - 1) / b_;
  const uint64_t all = (req->prompt_tokens() + req->max_new_tokens() + b_ - 1) / b_;
  std::lock_guard lock(mu_);
  ++reserves_;
  reserve_requests_.push_back(*req);
  if (used_ + all > total_) {
    return Refuse(grpc::StatusCode::RESOURCE_EXHAUSTED, "no KV space", Reason::kNoKvSpace);
  }
  used_ += all;
  reserved_[req->header().request_id()] = all;
  for (uint64_t i = 0; i < prompt_blocks; ++i) {
    auto* d = resp->add_kv();
    d->set_segment_name("fake-decode");
    d->set_offset(4096 * i);
    d->set_length(4096);
  }
  resp->set_block_tokens(b_);
  return grpc::Status::OK;
}

void FakeDecode::Free(const std::string& id) {
  auto it = reserved_.find(id);
  if (it == reserved_.end()) return;
  used_ -= it->second;
  reserved_.erase(it);
}

grpc::Status FakeDecode::Decode(grpc::ServerContext* ctx, const kvc::v1::DecodeRequest* req,
                                grpc::ServerWriter<kvc::v1::DecodeResponse>* writer) {
  if (Status s = CheckBearerToken(*ctx, token_); !s.ok()) return ToGrpcStatus(s);
  const std::string id = req->header().request_id();
  {
    std::lock_guard lock(mu_);
    seen_.push_back(*req);
    ++streams_;
    if (reserved_.count(id) == 0) {
      return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "no reservation");
    }
  }
  auto finish = [&](grpc::Status s, bool cancelled) {
    std::lock_guard lock(mu_);
    Free(id);
    if (cancelled) cancelled_.insert(id);
    cv_.notify_all();
    return s;
  };
  const uint32_t max_rest = req->sampling().max_tokens() - 1;
  const size_t n = std::min<size_t>(script.size(), max_rest);
  for (size_t i = 0; i < n; ++i) {
    if (delay.count() > 0) std::this_thread::sleep_for(delay);
    {
      std::lock_guard lock(mu_);
      if (cancelled_.count(id) > 0) {
        Free(id);
        return grpc::Status::CANCELLED;
      }
    }
    if (ctx->IsCancelled()) return finish(grpc::Status::CANCELLED, true);
    if (hang_after >= 0 && static_cast<int>(i) >= hang_after) {
      // A hung node: sends nothing more and keeps the stream open (bounded, 30 s).
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, std::chrono::seconds(30),
                   [&] { return ctx->IsCancelled() || cancelled_.count(id) > 0; });
      lock.unlock();
      return finish(grpc::Status::CANCELLED, true);
    }
    if (die_after >= 0 && static_cast<int>(i) >= die_after) {
      return finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "fake decode died"), false);
    }
    kvc::v1::DecodeResponse m;
    m.add_token_ids(script[i]);
    if (i + 1 == n) m.set_finish_reason(n == max_rest ? "length" : script_end);
    if (!writer->Write(m)) return finish(grpc::Status::CANCELLED, true);
  }
  return finish(grpc::Status::OK, false);
}

grpc::Status FakeDecode::Cancel(grpc::ServerContext* ctx, const kvc::v1::CancelRequest* req,
                                kvc::v1::CancelResponse* resp) {
  if (Status s = CheckBearerToken(*ctx, token_); !s.ok()) return ToGrpcStatus(s);
  std::lock_guard lock(mu_);
  const std::string& id = req->header().request_id();
  cancel_requests_.push_back(*req);
  resp->set_found(reserved_.count(id) > 0);
  Free(id);
  cancelled_.insert(id);
  cv_.notify_all();
  return grpc::Status::OK;
}

uint64_t FakeDecode::used_blocks() const {
  std::lock_guard lock(mu_);
  return used_;
}

int FakeDecode::reserves() const {
  std::lock_guard lock(mu_);
  return reserves_;
}

int FakeDecode::streams() const {
  std::lock_guard lock(mu_);
  return streams_;
}

std::set<std::string> FakeDecode::cancelled() const {
  std::lock_guard lock(mu_);
  return cancelled_;
}

std::vector<kvc::v1::DecodeRequest> FakeDecode::seen() const {
  std::lock_guard lock(mu_);
  return seen_;
}

std::vector<kvc::v1::ReserveRequest> FakeDecode::reserve_requests() const {
  std::lock_guard lock(mu_);
  return reserve_requests_;
}

std::vector<kvc::v1::CancelRequest> FakeDecode::cancel_requests() const {
  std::lock_guard lock(mu_);
  return cancel_requests_;
}

bool FakeDecode::WaitCancelled(const std::string& id, std::chrono::milliseconds timeout) const {
  std::unique_lock lock(mu_);
  return cv_.wait_for(lock, timeout, [&] { return cancelled_.count(id) > 0; });
}

FakeServer::FakeServer(grpc::Service* service) {
  grpc::ServerBuilder b;
  int port = 0;
  b.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  b.RegisterService(service);
  server_ = b.BuildAndStart();
  address_ = "127.0.0.1:" + std::to_string(port);
}

FakeServer::~FakeServer() { Stop(); }

void FakeServer::Stop() {
  if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
}

}  // namespace kvc::conductor::testing

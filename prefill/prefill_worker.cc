// PrefillWorker: options, the gRPC service, the FIFO queue and the engine thread.
// The per-request work on the engine thread is in internal/run_job.cc.
#include "kvc/prefill/prefill_worker.h"

#include <algorithm>

#include "kvc/common/reason.h"
#include "kvc/rpc/grpc_status.h"
#include "prefill/internal/kv_sender.h"
#include "prefill/internal/request_check.h"
#include "prefill/internal/worker_impl.h"

namespace kvc::prefill {
namespace {

// How long Cancel waits for a running job to stop before it replies.
constexpr std::chrono::milliseconds kCancelWait{2000};

}  // namespace

void BindPrefillWorkerOptions(OptionSet& set, PrefillWorkerOptions* o) {
  set.Add("prefill.chunk_tokens", &o->chunk_tokens, "prefill chunk size when a request says 0");
  set.Add("prefill.max_queue", &o->max_queue, "queued requests beyond this are refused");
  set.Add("prefill.transfer_timeout_ms", &o->transfer_timeout_ms,
          "deadline for the KV writes to the decode node");
  set.Add("prefill.store_blocks", &o->store_blocks, "put new full blocks into the KV pool");
  set.Add("prefill.max_pending_puts", &o->max_pending_puts,
          "requests whose blocks may wait for their pool put; more are not stored");
}

Status ValidatePrefillWorkerOptions(const PrefillWorkerOptions& o) {
  auto bad = [](const std::string& field, const std::string& why) {
    return absl::InvalidArgumentError("prefill." + field + ": " + why);
  };
  if (o.chunk_tokens == 0) return bad("chunk_tokens", "must be at least 1");
  if (o.max_queue == 0) return bad("max_queue", "must be at least 1");
  if (o.transfer_timeout_ms == 0) return bad("transfer_timeout_ms", "must be at least 1");
  if (o.store_blocks && o.max_pending_puts == 0) {
    return bad("max_pending_puts", "must be at least 1 when store_blocks is on");
  }
  return absl::OkStatus();
}

StatusOr<std::unique_ptr<PrefillWorker>> PrefillWorker::Create(const PrefillWorkerOptions& options,
                                                               engine::Engine& engine,
                                                               transfer::TransferEngine& transfer,
                                                               store::StoreClient* store) {
  KVC_RETURN_IF_ERROR(ValidatePrefillWorkerOptions(options));
  if (options.model_id.empty()) return absl::InvalidArgumentError("prefill: model_id is empty");
  return std::unique_ptr<PrefillWorker>(
      new internal::PrefillWorkerImpl(options, engine, transfer, store));
}

namespace internal {
namespace {

using Clock = std::chrono::system_clock;

Status ShuttingDown() {
  return WithReason(absl::UnavailableError("prefill worker is shutting down"),
                    Reason::kShuttingDown);
}

// The earlier of the RPC deadline and the request's end-to-end deadline.
Clock::time_point DeadlineOf(grpc::ServerContext* context, const v1::RequestHeader& header) {
  Clock::time_point deadline = context->deadline();
  if (header.deadline_unix_ms() > 0) {
    deadline =
        std::min(deadline, Clock::time_point(std::chrono::milliseconds(header.deadline_unix_ms())));
  }
  return deadline;
}

}  // namespace

PrefillWorkerImpl::PrefillWorkerImpl(const PrefillWorkerOptions& options, engine::Engine& engine,
                                     transfer::TransferEngine& transfer, store::StoreClient* store)
    : options_(options), engine_(engine), transfer_(transfer), store_(store) {
  if (store_ != nullptr && options_.store_blocks) {
    publisher_ =
        std::make_unique<BlockPublisher>(engine_.cache(), *store_, options_.max_pending_puts);
  }
  engine_thread_ = std::thread([this] { EngineLoop(); });
}

PrefillWorkerImpl::~PrefillWorkerImpl() { Shutdown(); }

grpc::Status PrefillWorkerImpl::Prefill(grpc::ServerContext* context,
                                        const v1::PrefillRequest* request,
                                        v1::PrefillResponse* response) {
  const engine::KvCache& cache = engine_.cache();
  Status s = CheckPrefillRequest(*request, engine_.config(), cache.geometry(), cache.num_blocks(),
                                 options_.model_id);
  if (!s.ok()) return ToGrpcStatus(s);
  auto job = std::make_shared<Job>();
  job->request = *request;
  auto handles = OpenDecodeSegments(transfer_, *request);
  if (!handles.ok()) return ToGrpcStatus(handles.status());
  job->handles = std::move(*handles);
  s = Enqueue(job);
  if (s.ok()) s = AwaitJob(context, job);
  if (!s.ok()) return ToGrpcStatus(s);
  *response = job->response;
  return grpc::Status::OK;
}

grpc::Status PrefillWorkerImpl::Cancel(grpc::ServerContext* context,
                                       const v1::CancelRequest* request,
                                       v1::CancelResponse* response) {
  std::shared_ptr<Job> found;
  {
    std::lock_guard lock(mu_);
    const std::string& id = request->header().request_id();
    if (running_ && running_->request.header().request_id() == id) found = running_;
    for (const auto& j : queue_) {
      if (j->request.header().request_id() == id) found = j;
    }
  }
  response->set_found(found != nullptr &&
                      CancelJob(found, WithReason(absl::CancelledError("cancelled by Cancel"),
                                                  Reason::kCancelled)));
  if (found != nullptr) {
    // Wait (bounded) for a running job to stop, so the reply can say whether any
    // of its KV writes may still land in the decode node's reservation.
    std::unique_lock lock(mu_);
    done_cv_.wait_for(lock, kCancelWait, [&] { return found->done; });
    response->set_kv_writes_done(found->done && !found->writes_pending);
  }
  return grpc::Status::OK;
}

Status PrefillWorkerImpl::Enqueue(const std::shared_ptr<Job>& job) {
  std::lock_guard lock(mu_);
  if (stop_) return ShuttingDown();
  const std::string& id = job->request.header().request_id();
  const bool duplicate = (running_ && running_->request.header().request_id() == id) ||
                         std::any_of(queue_.begin(), queue_.end(), [&](const auto& j) {
                           return j->request.header().request_id() == id;
                         });
  if (duplicate) {
    return WithReason(absl::AlreadyExistsError("request '" + id + "' is already queued"),
                      Reason::kDuplicateRequest);
  }
  if (queue_.size() >= options_.max_queue) DropAbandonedLocked();
  if (queue_.size() >= options_.max_queue) {
    return WithReason(absl::ResourceExhaustedError("prefill queue is full (" +
                                                   std::to_string(queue_.size()) + " requests)"),
                      Reason::kQueueFull);
  }
  queue_.push_back(job);
  queued_tokens_ += static_cast<uint64_t>(job->request.token_ids_size());
  work_cv_.notify_all();
  return absl::OkStatus();
}

Status PrefillWorkerImpl::AwaitJob(grpc::ServerContext* context, const std::shared_ptr<Job>& job) {
  const Clock::time_point deadline = DeadlineOf(context, job->request.header());
  std::unique_lock lock(mu_);
  job->context = context;
  done_cv_.wait_until(lock, deadline, [&] { return job->done; });
  job->context = nullptr;  // the engine thread must not touch it once we return
  if (job->done) return job->status;
  lock.unlock();
  Status why =
      WithReason(absl::DeadlineExceededError("prefill deadline passed"), Reason::kDeadlineExceeded);
  CancelJob(job, why);
  return why;
}

bool PrefillWorkerImpl::ClientGone(const Job& job) {
  return job.context != nullptr && job.context->IsCancelled();
}

void PrefillWorkerImpl::DropAbandonedLocked() {
  for (auto it = queue_.begin(); it != queue_.end();) {
    const std::shared_ptr<Job>& j = *it;
    if (!ClientGone(*j)) {
      ++it;
      continue;
    }
    queued_tokens_ -= static_cast<uint64_t>(j->request.token_ids_size());
    j->status = WithReason(absl::CancelledError("client went away"), Reason::kCancelled);
    j->done = true;
    it = queue_.erase(it);
    done_cv_.notify_all();
  }
}

bool PrefillWorkerImpl::ShouldStop(const Job& job) const {
  if (job.cancelled) return true;
  std::lock_guard lock(mu_);
  return ClientGone(job);
}

bool PrefillWorkerImpl::CancelJob(const std::shared_ptr<Job>& job, const Status& why) {
  std::lock_guard lock(mu_);
  if (job->done) return false;
  job->cancelled = true;
  auto it = std::find(queue_.begin(), queue_.end(), job);
  if (it != queue_.end()) {
    queue_.erase(it);
    queued_tokens_ -= static_cast<uint64_t>(job->request.token_ids_size());
    job->status = why;
    job->done = true;
    done_cv_.notify_all();
  }
  return true;  // a running job stops at its next check and frees its blocks
}

void PrefillWorkerImpl::EngineLoop() {
  std::unique_lock lock(mu_);
  while (true) {
    work_cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    if (stop_) return;
    running_ = queue_.front();
    queue_.pop_front();
    queued_tokens_ -= static_cast<uint64_t>(running_->request.token_ids_size());
    if (ClientGone(*running_)) {
      running_->status = WithReason(absl::CancelledError("client went away"), Reason::kCancelled);
      running_->done = true;
      running_.reset();
      done_cv_.notify_all();
      continue;
    }
    running_->running = true;
    std::shared_ptr<Job> job = running_;
    lock.unlock();
    v1::PrefillResponse response;
    Status status = RunJob(*job, &response);
    lock.lock();
    job->status = std::move(status);
    job->response = std::move(response);
    job->done = true;
    running_.reset();
    done_cv_.notify_all();
  }
}

v1::NodeLoad PrefillWorkerImpl::Load() const {
  v1::NodeLoad load;
  std::lock_guard lock(mu_);
  load.set_queued_requests(static_cast<uint32_t>(queue_.size()));
  uint64_t tokens = queued_tokens_;
  if (running_) tokens += static_cast<uint64_t>(running_->request.token_ids_size());
  load.set_queued_prefill_tokens(tokens);
  load.set_running_requests(running_ ? 1 : 0);
  load.set_free_kv_blocks(static_cast<uint64_t>(engine_.cache().free_blocks()));
  load.set_total_kv_blocks(static_cast<uint64_t>(engine_.cache().num_blocks()));
  load.set_prefill_tokens_per_second(tokens_per_second_);
  return load;
}

void PrefillWorkerImpl::Shutdown() {
  std::lock_guard shutdown_lock(shutdown_mu_);
  {
    std::lock_guard lock(mu_);
    if (!stop_) {
      stop_ = true;
      for (const auto& j : queue_) {
        j->status = ShuttingDown();
        j->done = true;
      }
      queue_.clear();
      queued_tokens_ = 0;  // the running job, if any, finishes
      work_cv_.notify_all();
      done_cv_.notify_all();
    }
  }
  if (engine_thread_.joinable()) engine_thread_.join();
  if (publisher_) publisher_->Shutdown();
  FreePendingBatches();
}

}  // namespace internal
}  // namespace kvc::prefill

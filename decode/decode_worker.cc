// DecodeWorker: the kvc.v1.Decode service over a RequestTable (reservations, KV
// ledger) and a BatchLoop (the engine thread). Reserve and Cancel are synchronous
// handlers (short, bounded work); Decode is a callback stream, so open streams hold
// no thread.
#include "kvc/decode/decode_worker.h"

#include <atomic>

#include "absl/strings/str_cat.h"
#include "decode/internal/batch_loop.h"
#include "decode/internal/decode_stream.h"
#include "decode/internal/request_table.h"
#include "kvc/common/logging.h"
#include "kvc/common/reason.h"
#include "kvc/rpc/grpc_status.h"
#include "kvc/v1/decode.grpc.pb.h"

namespace kvc::decode {
namespace {

using internal::BatchLoop;
using internal::DecodeStream;
using internal::RequestTable;
using Millis = std::chrono::milliseconds;

// How long Cancel waits for the engine thread to retire a running request.
constexpr Millis kCancelWait{2000};

class DecodeService final : public v1::Decode::WithCallbackMethod_Decode<v1::Decode::Service> {
 public:
  DecodeService(const DecodeWorkerOptions& options, engine::Engine& engine,
                std::string segment_name, std::shared_ptr<RequestTable> table)
      : options_(options),
        engine_(engine),
        segment_name_(std::move(segment_name)),
        table_(std::move(table)) {}

  grpc::Status Reserve(grpc::ServerContext*, const v1::ReserveRequest* request,
                       v1::ReserveResponse* response) override {
    auto reservation = table_->Reserve(request->header().request_id(), request->prompt_tokens(),
                                       request->max_new_tokens(), request->client_id());
    if (!reservation.ok()) return ToGrpcStatus(reservation.status());
    auto& cache = engine_.cache();
    const auto base = reinterpret_cast<uint64_t>(cache.Arena().data());
    for (engine::BlockId block : reservation->blocks) {
      v1::MemoryDescriptor* d = response->add_kv();
      d->set_segment_name(segment_name_);
      d->set_offset(base + cache.BlockOffset(block));
      d->set_length(cache.geometry().block_bytes());
    }
    response->set_block_tokens(static_cast<uint32_t>(cache.geometry().block_tokens));
    response->set_reservation_expires_unix_ms(reservation->expires_unix_ms);
    return grpc::Status::OK;
  }

  grpc::ServerWriteReactor<v1::DecodeResponse>* Decode(grpc::CallbackServerContext* context,
                                                       const v1::DecodeRequest* request) override {
    auto stream = DecodeStream::Create(context, options_.tokens_per_message);
    const std::string id = request->header().request_id();
    std::weak_ptr<RequestTable> table = table_;
    stream->SetOnCancel([table, id] {
      if (auto t = table.lock()) {
        t->Cancel(id, WithReason(absl::CancelledError("the Decode stream's client went away"),
                                 Reason::kClientCancelled));
      }
    });
    if (Status claimed = table_->Claim(*request, stream); !claimed.ok()) {
      stream->SetOnCancel(nullptr);  // the reservation is not this stream's
      stream->Fail(claimed);
    }
    return stream.get();
  }

  grpc::Status Cancel(grpc::ServerContext*, const v1::CancelRequest* request,
                      v1::CancelResponse* response) override {
    const std::string& id = request->header().request_id();
    if (id.empty()) {
      return ToGrpcStatus(WithReason(absl::InvalidArgumentError("header.request_id is empty"),
                                     Reason::kMissingRequestId));
    }
    const bool found = table_->Cancel(
        id, WithReason(absl::CancelledError("request cancelled"), Reason::kCancelled),
        request->kv_writes_done());
    response->set_found(found);
    if (found && !table_->WaitGone(id, kCancelWait)) {
      return ToGrpcStatus(absl::DeadlineExceededError(absl::StrCat(
          "request ", id, " is still being retired after ", kCancelWait.count(), " ms")));
    }
    return grpc::Status::OK;
  }

 private:
  const DecodeWorkerOptions options_;
  engine::Engine& engine_;
  const std::string segment_name_;
  std::shared_ptr<RequestTable> table_;
};

// How often the engine thread looks for expired reservations and quarantine ends.
Millis SweepInterval(const DecodeWorkerOptions& o) {
  uint32_t shortest = o.reservation_ttl_ms;
  if (o.kv_quarantine_ms > 0) shortest = std::min(shortest, o.kv_quarantine_ms);
  return std::clamp(Millis(shortest / 4), Millis(5), Millis(100));
}

// The per-client quarantine bound in blocks (0 = none: the percentage is 100).
int64_t ClientQuarantineBlocks(const DecodeWorkerOptions& o, engine::Engine& engine) {
  if (o.kv_quarantine_client_percent >= 100) return 0;
  const int64_t total = engine.cache().num_blocks();
  return std::max<int64_t>(1, total * o.kv_quarantine_client_percent / 100);
}

class DecodeWorkerImpl final : public DecodeWorker {
 public:
  DecodeWorkerImpl(const DecodeWorkerOptions& options, engine::Engine& engine,
                   std::string segment_name)
      : table_(std::make_shared<RequestTable>(
            engine.cache(), engine.config(), Clock::Real(), Millis(options.reservation_ttl_ms),
            Millis(options.kv_quarantine_ms), ClientQuarantineBlocks(options, engine))),
        service_(options, engine, std::move(segment_name), table_),
        loop_(engine, *table_,
              internal::BatchLoopOptions{
                  .max_batch = options.max_batch,
                  .sweep_interval = SweepInterval(options),
                  .stream_write_timeout = Millis(options.stream_write_timeout_ms),
                  .keepalive_interval = Millis(options.queued_keepalive_ms)}) {
    loop_.Start();
  }
  ~DecodeWorkerImpl() override { Shutdown(); }

  grpc::Service* service() override { return &service_; }

  v1::NodeLoad Load() const override {
    const internal::TableCounts c = table_->Counts();
    v1::NodeLoad load;
    load.set_queued_requests(c.queued);
    load.set_running_requests(c.running);
    load.set_reserved_requests(c.reserved);
    load.set_free_kv_blocks(static_cast<uint64_t>(c.free_kv_blocks));
    load.set_total_kv_blocks(static_cast<uint64_t>(c.total_kv_blocks));
    load.set_quarantined_kv_blocks(static_cast<uint64_t>(c.quarantined_kv_blocks));
    load.set_decode_tokens_per_second(loop_.tokens_per_second());
    return load;
  }

  void Shutdown() override {
    if (shut_down_.exchange(true)) return;
    table_->Close();
    loop_.Stop();
    const Status down =
        WithReason(absl::UnavailableError("decode node is shutting down"), Reason::kShuttingDown);
    for (const auto& r : table_->DrainWaiting()) r->sink->Fail(down);
  }

 private:
  std::shared_ptr<RequestTable> table_;
  DecodeService service_;
  BatchLoop loop_;
  std::atomic<bool> shut_down_{false};
};

// The transfer engine must serve the whole arena, or prefill nodes cannot write into it.
Status CheckArenaRegistered(engine::Engine& engine, transfer::TransferEngine& transfer) {
  auto arena = engine.cache().Arena();
  const auto segment = transfer.LocalSegment();
  if (segment.FindRegion(reinterpret_cast<uint64_t>(arena.data()), arena.size()) == nullptr) {
    return absl::FailedPreconditionError(
        "the engine's KV arena is not registered remote-accessible with the transfer engine "
        "(segment '" +
        segment.name + "')");
  }
  return absl::OkStatus();
}

}  // namespace

StatusOr<std::unique_ptr<DecodeWorker>> DecodeWorker::Create(const DecodeWorkerOptions& options,
                                                             engine::Engine& engine,
                                                             transfer::TransferEngine& transfer) {
  KVC_RETURN_IF_ERROR(ValidateDecodeWorkerOptions(options));
  KVC_RETURN_IF_ERROR(CheckArenaRegistered(engine, transfer));
  return std::unique_ptr<DecodeWorker>(
      new DecodeWorkerImpl(options, engine, transfer.LocalSegment().name));
}

}  // namespace kvc::decode

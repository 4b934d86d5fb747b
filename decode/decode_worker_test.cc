// DecodeWorker with real parts: a CPU (or simulated) engine, a real transfer engine
// whose segment holds the KV arena, a real in-process gRPC server on 127.0.0.1, and a
// second engine + transfer engine in the test playing the prefill node (it computes
// the prompt's KV and writes every block's layers into the reserved descriptors).
#include "kvc/decode/decode_worker.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>

#include "kvc/common/clock.h"
#include "kvc/common/grpc_status.h"
#include "kvc/engine/backend.h"
#include "kvc/engine/generator.h"
#include "kvc/engine/sampler.h"
#include "kvc/engine/tiny_model.h"
#include "kvc/rpc/server.h"
#include "kvc/v1/decode.grpc.pb.h"

namespace kvc::decode {
namespace {

using std::chrono::milliseconds;

struct StreamResult {
  std::vector<int32_t> tokens;  // streamed tokens (after the first one)
  std::string finish_reason;
  int messages = 0;
  grpc::Status status;
};

std::string Reason(const grpc::Status& s) { return ReasonOf(FromGrpcStatus(s)); }

v1::SamplingParams ToParams(const engine::SamplingOptions& o) {
  v1::SamplingParams p;
  p.set_temperature(static_cast<float>(o.temperature));
  p.set_top_p(static_cast<float>(o.top_p));
  p.set_top_k(static_cast<uint32_t>(o.top_k));
  p.set_seed(o.seed);
  p.set_has_seed(true);
  p.set_max_tokens(static_cast<uint32_t>(o.max_tokens));
  p.set_ignore_eos(o.ignore_eos);
  for (int32_t id : o.stop_token_ids) p.add_stop_token_ids(static_cast<uint32_t>(id));
  return p;
}

std::vector<int32_t> Prompt(int n, int salt) {
  std::vector<int32_t> p;
  for (int i = 0; i < n; ++i) p.push_back((i * 31 + salt * 17 + 5) % 250);
  return p;
}

std::unique_ptr<grpc::ClientContext> Context(milliseconds timeout = milliseconds(10000)) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + timeout);
  return ctx;
}

class DecodeWorkerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    model_dir_ = new std::string(testing::TempDir() + "/decode_worker_test_model_" +
                                 std::to_string(::getpid()));
    ASSERT_TRUE(engine::WriteTinyModel(*model_dir_, 11).ok());
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*model_dir_);
    delete model_dir_;
  }

  // Builds both nodes. `backend` is cpu or sim (time_scale as given).
  void Start(int64_t decode_blocks, DecodeWorkerOptions options = {},
             const std::string& backend = "cpu", double time_scale = 0) {
    engine::EngineOptions eo;
    eo.backend = backend;
    eo.sim_time_scale = time_scale;
    eo.sim_kv_bytes_per_token = 640;
    eo.num_blocks = decode_blocks;
    auto d = engine::NewEngine(*model_dir_, eo);
    ASSERT_TRUE(d.ok()) << d.status();
    decode_engine_ = std::move(*d);
    eo.sim_time_scale = 0;
    eo.num_blocks = 512;
    auto p = engine::NewEngine(*model_dir_, eo);
    ASSERT_TRUE(p.ok()) << p.status();
    prefill_engine_ = std::move(*p);

    transfer::TransferEngineOptions to;
    to.segment_name = "decode-node";
    auto dt = transfer::CreateTransferEngine(to, directory_.get());
    ASSERT_TRUE(dt.ok()) << dt.status();
    decode_transfer_ = std::move(*dt);
    auto arena = decode_engine_->cache().Arena();
    ASSERT_TRUE(decode_transfer_->RegisterMemory(arena.data(), arena.size(), "cpu:0", true).ok());
    ASSERT_TRUE(decode_transfer_->Publish().ok());
    to.segment_name = "prefill-node";
    auto pt = transfer::CreateTransferEngine(to, directory_.get());
    ASSERT_TRUE(pt.ok()) << pt.status();
    prefill_transfer_ = std::move(*pt);
    auto parena = prefill_engine_->cache().Arena();
    ASSERT_TRUE(
        prefill_transfer_->RegisterMemory(parena.data(), parena.size(), "cpu:0", false).ok());

    auto w = DecodeWorker::Create(options, *decode_engine_, *decode_transfer_);
    ASSERT_TRUE(w.ok()) << w.status();
    worker_ = std::move(*w);
    auto s = RunningServer::Start("decode", ServerOptions{}, {worker_->service()});
    ASSERT_TRUE(s.ok()) << s.status();
    server_ = std::move(*s);
    stub_ = v1::Decode::NewStub(
        grpc::CreateChannel(server_->address(), grpc::InsecureChannelCredentials()));
  }

  grpc::Status Reserve(const std::string& id, uint32_t prompt_tokens, uint32_t max_new,
                       v1::ReserveResponse* out) {
    v1::ReserveRequest req;
    req.mutable_header()->set_request_id(id);
    req.set_prompt_tokens(prompt_tokens);
    req.set_max_new_tokens(max_new);
    return stub_->Reserve(Context().get(), req, out);
  }

  v1::CancelResponse Cancel(const std::string& id) {
    v1::CancelRequest req;
    req.mutable_header()->set_request_id(id);
    v1::CancelResponse resp;
    EXPECT_TRUE(stub_->Cancel(Context().get(), req, &resp).ok());
    return resp;
  }

  // The prefill node's part: computes the prompt's KV, writes each block's layers
  // into the reserved descriptors through the transfer engine, returns the first token.
  int32_t PrefillInto(const std::vector<int32_t>& prompt, const v1::ReserveResponse& reserved,
                      const engine::SamplingOptions& options) {
    std::lock_guard lock(prefill_mu_);
    engine::Sequence seq;
    auto logits = prefill_engine_->Prefill(seq, prompt, 0, 0);
    EXPECT_TRUE(logits.ok()) << logits.status();
    EXPECT_EQ(static_cast<size_t>(reserved.kv_size()), seq.blocks.size());
    auto peer = prefill_transfer_->OpenSegment(reserved.kv(0).segment_name());
    EXPECT_TRUE(peer.ok()) << peer.status();
    auto& cache = prefill_engine_->cache();
    const size_t layer_bytes = cache.geometry().layer_bytes();
    std::vector<transfer::TransferRequest> writes;
    for (int i = 0; i < reserved.kv_size(); ++i) {
      EXPECT_EQ(reserved.kv(i).length(), cache.geometry().block_bytes());
      for (int64_t l = 0; l < cache.geometry().num_layers; ++l) {
        writes.push_back({transfer::TransferOp::kWrite, cache.Layer(seq.blocks[i], l).data(), *peer,
                          reserved.kv(i).offset() + l * layer_bytes, layer_bytes});
      }
    }
    auto batch = prefill_transfer_->AllocateBatch(writes.size());
    EXPECT_TRUE(batch.ok());
    EXPECT_TRUE(prefill_transfer_->Submit(*batch, writes).ok());
    EXPECT_TRUE(prefill_transfer_->Wait(*batch, milliseconds(5000)).ok());
    EXPECT_TRUE(prefill_transfer_->FreeBatch(*batch).ok());
    prefill_engine_->Release(seq);
    return engine::Sampler(options).Sample(*logits);
  }

  v1::DecodeRequest DecodeRequest(const std::string& id, const std::vector<int32_t>& prompt,
                                  int32_t first, const engine::SamplingOptions& options) {
    v1::DecodeRequest req;
    req.mutable_header()->set_request_id(id);
    req.set_first_token_id(static_cast<uint32_t>(first));
    req.set_prompt_tokens(static_cast<uint32_t>(prompt.size()));
    for (int32_t t : prompt) req.add_prompt_token_ids(static_cast<uint32_t>(t));
    *req.mutable_sampling() = ToParams(options);
    return req;
  }

  // Reads a whole stream; `after_first` runs once the first message arrived.
  StreamResult ReadStream(const v1::DecodeRequest& req,
                          const std::function<void(grpc::ClientContext&)>& after_first = {}) {
    StreamResult out;
    auto ctx = Context();
    auto reader = stub_->Decode(ctx.get(), req);
    v1::DecodeResponse msg;
    while (reader->Read(&msg)) {
      if (out.messages++ == 0 && after_first) after_first(*ctx);
      out.tokens.insert(out.tokens.end(), msg.token_ids().begin(), msg.token_ids().end());
      if (!msg.finish_reason().empty()) out.finish_reason = msg.finish_reason();
    }
    out.status = reader->Finish();
    return out;
  }

  // Reserve → prefill writes KV → Decode; checks the stream against engine::Generate.
  void ExpectStreamEqualsGenerate(const std::string& id, const std::vector<int32_t>& prompt,
                                  const engine::SamplingOptions& options) {
    v1::ReserveResponse reserved;
    ASSERT_TRUE(Reserve(id, prompt.size(), options.max_tokens, &reserved).ok());
    const int32_t first = PrefillInto(prompt, reserved, options);
    StreamResult got = ReadStream(DecodeRequest(id, prompt, first, options));
    ASSERT_TRUE(got.status.ok()) << got.status.error_message();
    got.tokens.insert(got.tokens.begin(), first);
    engine::GenerateResult want;
    {
      std::lock_guard lock(prefill_mu_);
      auto g = engine::Generate(*prefill_engine_, nullptr, prompt, options);
      ASSERT_TRUE(g.ok()) << g.status();
      want = *g;
    }
    EXPECT_EQ(got.tokens, want.token_ids);
    EXPECT_EQ(got.finish_reason, want.finish_reason);
  }

  // Polls until every KV block is free again (nothing reserved, allocated or committed).
  bool WaitAllFree(milliseconds timeout = milliseconds(5000)) {
    const auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
      const v1::NodeLoad load = worker_->Load();
      if (load.free_kv_blocks() == load.total_kv_blocks() && load.running_requests() == 0) {
        return true;
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
    return false;
  }

  // A Decode stream that runs long enough to be interrupted.
  v1::DecodeRequest LongRequest(const std::string& id) {
    engine::SamplingOptions o;
    o.max_tokens = 3000;
    o.ignore_eos = true;
    const auto prompt = Prompt(10, 3);
    v1::ReserveResponse reserved;
    EXPECT_TRUE(Reserve(id, prompt.size(), o.max_tokens, &reserved).ok());
    return DecodeRequest(id, prompt, PrefillInto(prompt, reserved, o), o);
  }

  static std::string* model_dir_;
  std::mutex prefill_mu_;
  std::unique_ptr<transfer::SegmentDirectory> directory_ =
      transfer::MakeInProcessSegmentDirectory();
  std::unique_ptr<engine::Engine> decode_engine_;
  std::unique_ptr<engine::Engine> prefill_engine_;
  std::unique_ptr<transfer::TransferEngine> decode_transfer_;
  std::unique_ptr<transfer::TransferEngine> prefill_transfer_;
  std::unique_ptr<DecodeWorker> worker_;
  std::unique_ptr<RunningServer> server_;
  std::unique_ptr<v1::Decode::Stub> stub_;
};
std::string* DecodeWorkerTest::model_dir_ = nullptr;

// Greedy decoding over reserved, remotely written KV equals single-node generation.
TEST_F(DecodeWorkerTest, GreedyStreamEqualsGenerate) {
  Start(64);
  engine::SamplingOptions o;
  o.max_tokens = 40;
  ExpectStreamEqualsGenerate("greedy", Prompt(37, 1), o);    // 3 blocks, the last one partial
  ExpectStreamEqualsGenerate("greedy-2", Prompt(32, 2), o);  // exactly 2 full blocks
  EXPECT_TRUE(WaitAllFree());
  EXPECT_GT(worker_->Load().decode_tokens_per_second(), 0);
}

// Seeded sampling continues the prefill node's sequence: equal to single-node too.
TEST_F(DecodeWorkerTest, SeededStreamEqualsGenerate) {
  Start(64);
  engine::SamplingOptions o;
  o.temperature = 0.8;
  o.top_p = 0.9;
  o.seed = 99;
  o.max_tokens = 30;
  ExpectStreamEqualsGenerate("seeded", Prompt(20, 4), o);
  o.seed = 100;
  o.top_k = 5;
  ExpectStreamEqualsGenerate("seeded-2", Prompt(20, 4), o);
  EXPECT_TRUE(WaitAllFree());
}

// Several tokens per message: same tokens, fewer messages, the last one has the reason.
TEST_F(DecodeWorkerTest, TokensPerMessageBatchesTheStream) {
  DecodeWorkerOptions wo;
  wo.tokens_per_message = 4;
  Start(64, wo);
  engine::SamplingOptions o;
  o.max_tokens = 21;
  o.ignore_eos = true;
  const auto prompt = Prompt(18, 5);
  v1::ReserveResponse reserved;
  ASSERT_TRUE(Reserve("tpm", prompt.size(), o.max_tokens, &reserved).ok());
  StreamResult got = ReadStream(DecodeRequest("tpm", prompt, PrefillInto(prompt, reserved, o), o));
  ASSERT_TRUE(got.status.ok()) << got.status.error_message();
  EXPECT_EQ(got.tokens.size(), 20u);
  EXPECT_EQ(got.finish_reason, "length");
  EXPECT_LE(got.messages, 6);
}

// Every RPC refuses bad input with a reason, and a refused call changes nothing.
TEST_F(DecodeWorkerTest, BadInputIsRefusedWithReasons) {
  Start(64);
  v1::ReserveResponse r;
  EXPECT_EQ(Reason(Reserve("", 10, 5, &r)), "MISSING_REQUEST_ID");
  EXPECT_EQ(Reason(Reserve("x", 0, 5, &r)), "EMPTY_PROMPT");
  EXPECT_EQ(Reason(Reserve("x", 10, 0, &r)), "BAD_MAX_TOKENS");
  grpc::Status too_long = Reserve("x", 5000, 5, &r);  // kvc-tiny's context is 4096
  EXPECT_EQ(too_long.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Reason(too_long), "PROMPT_TOO_LONG");
  EXPECT_EQ(worker_->Load().free_kv_blocks(), 64u);

  engine::SamplingOptions o;
  o.max_tokens = 8;
  const auto prompt = Prompt(20, 6);
  ASSERT_TRUE(Reserve("ok", prompt.size(), o.max_tokens, &r).ok());
  EXPECT_EQ(r.kv_size(), 2);
  EXPECT_EQ(r.block_tokens(), 16u);
  EXPECT_EQ(r.kv(0).segment_name(), "decode-node");
  EXPECT_GT(r.reservation_expires_unix_ms(), 0);
  grpc::Status dup = Reserve("ok", prompt.size(), o.max_tokens, &r);
  EXPECT_EQ(dup.error_code(), grpc::StatusCode::ALREADY_EXISTS);
  const int32_t first = PrefillInto(prompt, r, o);

  StreamResult unknown = ReadStream(DecodeRequest("nope", prompt, first, o));
  EXPECT_EQ(unknown.status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(Reason(unknown.status), "UNKNOWN_REQUEST");
  auto bad = DecodeRequest("ok", prompt, first, o);
  bad.mutable_prompt_token_ids()->RemoveLast();
  StreamResult mismatch = ReadStream(bad);
  EXPECT_EQ(mismatch.status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Reason(mismatch.status), "PROMPT_MISMATCH");
  bad = DecodeRequest("ok", prompt, first, o);
  bad.set_prompt_tokens(19);
  EXPECT_EQ(Reason(ReadStream(bad).status), "PROMPT_MISMATCH");
  bad = DecodeRequest("ok", prompt, first, o);
  bad.set_first_token_id(100000);
  EXPECT_EQ(Reason(ReadStream(bad).status), "TOKEN_OUT_OF_RANGE");
  bad = DecodeRequest("ok", prompt, first, o);
  bad.mutable_sampling()->set_max_tokens(9);
  EXPECT_EQ(Reason(ReadStream(bad).status), "MAX_TOKENS_OVER_RESERVATION");
  bad = DecodeRequest("ok", prompt, first, o);
  bad.mutable_sampling()->set_temperature(-2);
  EXPECT_EQ(Reason(ReadStream(bad).status), "BAD_SAMPLING");

  // The reservation survived every refused call.
  StreamResult good = ReadStream(DecodeRequest("ok", prompt, first, o));
  EXPECT_TRUE(good.status.ok()) << good.status.error_message();
  EXPECT_FALSE(good.finish_reason.empty());
  EXPECT_EQ(Reason(ReadStream(DecodeRequest("ok", prompt, first, o)).status), "UNKNOWN_REQUEST");
  EXPECT_FALSE(Cancel("never-reserved").found());
  v1::CancelRequest empty;
  v1::CancelResponse resp;
  EXPECT_EQ(Reason(stub_->Cancel(Context().get(), empty, &resp)), "MISSING_REQUEST_ID");
}

// Reserve commits room for the whole request; a full node refuses with NO_KV_SPACE,
// and accepts again once Cancel freed the reservation.
TEST_F(DecodeWorkerTest, NoKvSpaceUntilCancelled) {
  Start(8);
  v1::ReserveResponse r;
  ASSERT_TRUE(Reserve("big", 20, 40, &r).ok());  // 2 blocks now, 4 committed
  EXPECT_EQ(r.kv_size(), 2);
  EXPECT_EQ(worker_->Load().free_kv_blocks(), 4u);
  EXPECT_EQ(decode_engine_->cache().free_blocks(), 6);
  ASSERT_TRUE(Reserve("fits", 40, 24, &r).ok());  // exactly the 4 left
  EXPECT_EQ(worker_->Load().free_kv_blocks(), 0u);
  grpc::Status full = Reserve("more", 1, 1, &r);
  EXPECT_EQ(full.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(Reason(full), "NO_KV_SPACE");
  EXPECT_TRUE(Cancel("big").found());
  EXPECT_EQ(worker_->Load().free_kv_blocks(), 4u);
  EXPECT_TRUE(Reserve("more", 1, 1, &r).ok());
  EXPECT_TRUE(Cancel("fits").found());
  EXPECT_TRUE(Cancel("more").found());
  EXPECT_TRUE(WaitAllFree(milliseconds(0)) || WaitAllFree());
  EXPECT_EQ(worker_->Load().total_kv_blocks(), 8u);
}

// Cancel mid-stream ends the stream with CANCELLED and frees every block at once.
TEST_F(DecodeWorkerTest, CancelMidStreamFreesBlocks) {
  Start(512);
  auto req = LongRequest("long");
  StreamResult got = ReadStream(req, [&](grpc::ClientContext&) {
    EXPECT_TRUE(Cancel("long").found());
    EXPECT_EQ(worker_->Load().free_kv_blocks(), 512u);  // Cancel returns once freed
  });
  EXPECT_EQ(got.status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_LT(got.tokens.size(), 2999u);
  EXPECT_TRUE(WaitAllFree());
}

// A request whose end-to-end deadline passes mid-stream ends with DEADLINE_EXCEEDED.
TEST_F(DecodeWorkerTest, EndToEndDeadlineEndsTheStream) {
  Start(512);
  auto req = LongRequest("late");
  req.mutable_header()->set_deadline_unix_ms(Clock::Real().UnixMillis() + 100);
  StreamResult got = ReadStream(req);
  EXPECT_EQ(got.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(Reason(got.status), "DEADLINE_EXCEEDED");
  EXPECT_TRUE(WaitAllFree());
}

// A client that goes away mid-stream frees the request too.
TEST_F(DecodeWorkerTest, ClientCancellationFreesBlocks) {
  Start(512);
  auto req = LongRequest("gone");
  StreamResult got = ReadStream(req, [](grpc::ClientContext& ctx) { ctx.TryCancel(); });
  EXPECT_EQ(got.status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(WaitAllFree());
  EXPECT_FALSE(Cancel("gone").found());
}

// A reader that takes no message stalls the stream's writes (a tiny HTTP/2 window);
// after stream_write_timeout_ms the worker cuts the stream and frees the request.
TEST_F(DecodeWorkerTest, StalledReaderIsCut) {
  DecodeWorkerOptions wo;
  wo.stream_write_timeout_ms = 300;
  Start(512, wo);
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 1);
  auto stub = v1::Decode::NewStub(
      grpc::CreateCustomChannel(server_->address(), grpc::InsecureChannelCredentials(), args));
  auto req = LongRequest("stall");
  auto ctx = Context();
  auto reader = stub->Decode(ctx.get(), req);
  EXPECT_TRUE(WaitAllFree(milliseconds(1500)));  // without reading a single message
  v1::DecodeResponse msg;
  int messages = 0;
  while (reader->Read(&msg)) ++messages;
  EXPECT_LT(messages, 2999);
  EXPECT_FALSE(reader->Finish().ok());
}

// A reservation nobody claims is freed after its TTL; Decode then finds nothing.
TEST_F(DecodeWorkerTest, UnclaimedReservationExpires) {
  DecodeWorkerOptions wo;
  wo.reservation_ttl_ms = 200;
  Start(64, wo);
  v1::ReserveResponse r;
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(Reserve("idle", 30, 10, &r).ok());
  EXPECT_EQ(worker_->Load().free_kv_blocks(), 61u);
  ASSERT_TRUE(WaitAllFree());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, milliseconds(150));
  engine::SamplingOptions o;
  o.max_tokens = 10;
  EXPECT_EQ(Reason(ReadStream(DecodeRequest("idle", Prompt(30, 0), 1, o)).status),
            "UNKNOWN_REQUEST");
}

// A first token that already ends the request: one message, no tokens, blocks freed.
TEST_F(DecodeWorkerTest, FirstTokenEndsTheRequest) {
  Start(64);
  engine::SamplingOptions o;
  o.max_tokens = 1;
  const auto prompt = Prompt(12, 7);
  v1::ReserveResponse r;
  ASSERT_TRUE(Reserve("one", prompt.size(), 1, &r).ok());
  StreamResult got = ReadStream(DecodeRequest("one", prompt, PrefillInto(prompt, r, o), o));
  ASSERT_TRUE(got.status.ok()) << got.status.error_message();
  EXPECT_EQ(got.messages, 1);
  EXPECT_TRUE(got.tokens.empty());
  EXPECT_EQ(got.finish_reason, "length");
  EXPECT_TRUE(WaitAllFree());
}

// Shutdown ends open streams with UNAVAILABLE and refuses new reservations.
TEST_F(DecodeWorkerTest, ShutdownEndsStreams) {
  Start(512);
  auto req = LongRequest("down");
  StreamResult got = ReadStream(req, [&](grpc::ClientContext&) { worker_->Shutdown(); });
  EXPECT_EQ(got.status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(Reason(got.status), "SHUTTING_DOWN");
  v1::ReserveResponse r;
  EXPECT_EQ(Reason(Reserve("late", 5, 5, &r)), "SHUTTING_DOWN");
  EXPECT_EQ(worker_->Load().free_kv_blocks(), 512u);
}

// 64 concurrent streams on the simulated backend all finish, each equal to
// single-node generation, and they share the batch.
TEST_F(DecodeWorkerTest, ManyConcurrentStreamsFinish) {
  DecodeWorkerOptions wo;
  wo.max_batch = 32;  // some requests wait in the queue
  Start(1024, wo, "sim", 0.02);
  constexpr int kStreams = 64;
  std::atomic<int> ok{0};
  std::atomic<uint32_t> max_running{0};
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    while (!done) {
      const uint32_t running = worker_->Load().running_requests();
      uint32_t seen = max_running.load();
      while (running > seen && !max_running.compare_exchange_weak(seen, running)) {
      }
      std::this_thread::sleep_for(milliseconds(1));
    }
  });
  std::vector<std::thread> clients;
  for (int i = 0; i < kStreams; ++i) {
    clients.emplace_back([&, i] {
      engine::SamplingOptions o;
      o.max_tokens = 24;
      o.ignore_eos = true;
      const auto prompt = Prompt(20 + i, i);
      const std::string id = "many-" + std::to_string(i);
      v1::ReserveResponse r;
      if (!Reserve(id, prompt.size(), o.max_tokens, &r).ok()) return;
      const int32_t first = PrefillInto(prompt, r, o);
      StreamResult got = ReadStream(DecodeRequest(id, prompt, first, o));
      got.tokens.insert(got.tokens.begin(), first);
      std::lock_guard lock(prefill_mu_);
      auto want = engine::Generate(*prefill_engine_, nullptr, prompt, o);
      if (got.status.ok() && want.ok() && got.tokens == want->token_ids &&
          got.finish_reason == "length") {
        ++ok;
      }
    });
  }
  for (auto& t : clients) t.join();
  done = true;
  watcher.join();
  EXPECT_EQ(ok.load(), kStreams);
  EXPECT_GT(max_running.load(), 1u);
  EXPECT_LE(max_running.load(), 32u);
  EXPECT_TRUE(WaitAllFree());
  const v1::NodeLoad load = worker_->Load();
  EXPECT_EQ(load.queued_requests(), 0u);
  EXPECT_GT(load.decode_tokens_per_second(), 0);
}

// Throughput through the whole worker (gRPC streams included) on the CPU engine,
// one stream alone and 16 at once; printed for docs/serving.md. Asserts only that
// Load() measured a rate.
TEST_F(DecodeWorkerTest, ReportsThroughput) {
  Start(1024);
  for (int streams : {1, 16}) {
    std::vector<v1::DecodeRequest> requests;
    engine::SamplingOptions o;
    o.max_tokens = 65;
    o.ignore_eos = true;
    for (int i = 0; i < streams; ++i) {
      const auto prompt = Prompt(100, i);
      const std::string id = "tput-" + std::to_string(streams) + "-" + std::to_string(i);
      v1::ReserveResponse r;
      ASSERT_TRUE(Reserve(id, prompt.size(), o.max_tokens, &r).ok());
      requests.push_back(DecodeRequest(id, prompt, PrefillInto(prompt, r, o), o));
    }
    std::atomic<int64_t> tokens{0};
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> clients;
    for (const auto& req : requests) {
      clients.emplace_back([&, req] { tokens += ReadStream(req).tokens.size(); });
    }
    for (auto& t : clients) t.join();
    const double wall =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_EQ(tokens.load(), 64 * streams);
    std::printf(
        "[ throughput ] cpu kvc-tiny, %d stream(s) x 64 tokens: %.0f tokens/s wall, "
        "Load().decode_tokens_per_second %.0f\n",
        streams, static_cast<double>(tokens.load()) / wall,
        worker_->Load().decode_tokens_per_second());
  }
  EXPECT_GT(worker_->Load().decode_tokens_per_second(), 0);
}

// Create refuses an engine whose arena the transfer engine does not serve.
TEST_F(DecodeWorkerTest, CreateNeedsTheArenaRegistered) {
  engine::EngineOptions eo;
  eo.num_blocks = 4;
  auto e = engine::NewEngine(*model_dir_, eo);
  ASSERT_TRUE(e.ok());
  transfer::TransferEngineOptions to;
  to.segment_name = "bare";
  auto t = transfer::CreateTransferEngine(to, directory_.get());
  ASSERT_TRUE(t.ok());
  auto w = DecodeWorker::Create({}, **e, **t);
  EXPECT_EQ(w.status().code(), absl::StatusCode::kFailedPrecondition);
  DecodeWorkerOptions bad;
  bad.max_batch = 0;
  EXPECT_FALSE(ValidateDecodeWorkerOptions(bad).ok());
}

}  // namespace
}  // namespace kvc::decode

// Test fixture for DecodeWorker with real parts: a CPU (or simulated) engine, a real
// transfer engine whose segment holds the KV arena, a real in-process gRPC server on
// 127.0.0.1, and a second engine + transfer engine playing the prefill node (it
// computes the prompt's KV and writes every block's layers into the reserved
// descriptors).
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <thread>

#include "kvc/common/clock.h"
#include "kvc/decode/decode_worker.h"
#include "kvc/engine/backend.h"
#include "kvc/engine/generator.h"
#include "kvc/engine/sampler.h"
#include "kvc/engine/tiny_model.h"
#include "kvc/rpc/grpc_status.h"
#include "kvc/rpc/server.h"
#include "kvc/v1/decode.grpc.pb.h"

namespace kvc::decode::test {

using std::chrono::milliseconds;

struct StreamResult {
  std::vector<int32_t> tokens;  // streamed tokens (after the first one)
  std::string finish_reason;
  int messages = 0;
  grpc::Status status;
};

inline std::string Reason(const grpc::Status& s) { return ReasonOf(FromGrpcStatus(s)); }

inline v1::SamplingParams ToParams(const engine::SamplingOptions& o) {
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

inline std::vector<int32_t> Prompt(int n, int salt) {
  std::vector<int32_t> p;
  for (int i = 0; i < n; ++i) p.push_back((i * 31 + salt * 17 + 5) % 250);
  return p;
}

inline std::unique_ptr<grpc::ClientContext> Context(milliseconds timeout = milliseconds(10000)) {
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
                       v1::ReserveResponse* out, const std::string& client_id = "") {
    v1::ReserveRequest req;
    req.mutable_header()->set_request_id(id);
    req.set_client_id(client_id);
    req.set_prompt_tokens(prompt_tokens);
    req.set_max_new_tokens(max_new);
    return stub_->Reserve(Context().get(), req, out);
  }

  v1::CancelResponse Cancel(const std::string& id, bool kv_writes_done = false) {
    v1::CancelRequest req;
    req.mutable_header()->set_request_id(id);
    req.set_kv_writes_done(kv_writes_done);
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

  // A stray writer: fills every block of `reserved` with 0x7f bytes through the
  // transfer engine (a prefill node's write arriving after its reservation ended).
  void WriteGarbage(const v1::ReserveResponse& reserved) {
    std::lock_guard lock(prefill_mu_);
    auto& cache = prefill_engine_->cache();
    auto block = cache.Allocate();
    ASSERT_TRUE(block.ok()) << block.status();
    std::span<uint8_t> bytes = cache.Block(*block);
    std::fill(bytes.begin(), bytes.end(), uint8_t{0x7f});
    auto peer = prefill_transfer_->OpenSegment(reserved.kv(0).segment_name());
    ASSERT_TRUE(peer.ok()) << peer.status();
    std::vector<transfer::TransferRequest> writes;
    for (const auto& d : reserved.kv()) {
      writes.push_back({transfer::TransferOp::kWrite, bytes.data(), *peer, d.offset(), d.length()});
    }
    auto batch = prefill_transfer_->AllocateBatch(writes.size());
    ASSERT_TRUE(batch.ok());
    EXPECT_TRUE(prefill_transfer_->Submit(*batch, writes).ok());
    EXPECT_TRUE(prefill_transfer_->Wait(*batch, milliseconds(5000)).ok());
    EXPECT_TRUE(prefill_transfer_->FreeBatch(*batch).ok());
    cache.Free(*block);
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

  static inline std::string* model_dir_ = nullptr;
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

}  // namespace kvc::decode::test

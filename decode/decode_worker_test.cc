// DecodeWorker streams over real engines, transfer engines and gRPC: tokens equal
// single-node generation (greedy and seeded), bad input, many streams, Load().
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "decode/decode_worker_test_fixture.h"

namespace kvc::decode::test {
namespace {

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

// A request that reaches the model context (4096 for kvc-tiny) ends with "length"
// after the last position that fits, not with an error.
TEST_F(DecodeWorkerTest, ContextFullEndsWithLength) {
  Start(512, {}, "sim");
  engine::SamplingOptions o;
  o.max_tokens = 100;
  o.ignore_eos = true;
  const auto prompt = Prompt(4090, 8);
  v1::ReserveResponse r;
  ASSERT_TRUE(Reserve("full", prompt.size(), o.max_tokens, &r).ok());
  StreamResult got = ReadStream(DecodeRequest("full", prompt, PrefillInto(prompt, r, o), o));
  ASSERT_TRUE(got.status.ok()) << got.status.error_message();
  EXPECT_EQ(got.finish_reason, "length");
  EXPECT_EQ(prompt.size() + 1 + got.tokens.size(), 4097u);  // KV for all 4096 positions
  EXPECT_TRUE(WaitAllFree());
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
}  // namespace kvc::decode::test

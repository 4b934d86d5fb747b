// DecodeWorker memory lifecycle over real engines, transfer engines and gRPC: room
// committed at Reserve, NO_KV_SPACE, the quarantine of reservations freed before
// Decode, and every way a request ends (cancel, client gone, stalled reader,
// deadline, TTL, shutdown) frees all its blocks.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "decode/decode_worker_test_fixture.h"
#include "kvc/common/metrics.h"

namespace kvc::decode::test {
namespace {

// NO_KV_SPACE until Cancel freed room; the cancelled reservation's blocks come back
// only after kv_quarantine_ms.
TEST_F(DecodeWorkerTest, NoKvSpaceUntilCancelled) {
  DecodeWorkerOptions wo;
  wo.kv_quarantine_ms = 300;
  Start(8, wo);
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
  const auto cancelled = std::chrono::steady_clock::now();
  EXPECT_TRUE(Cancel("big").found());
  EXPECT_EQ(worker_->Load().free_kv_blocks(), 2u);  // its 2 blocks are quarantined
  EXPECT_TRUE(Reserve("more", 1, 1, &r).ok());
  EXPECT_TRUE(Cancel("fits").found());
  EXPECT_TRUE(Cancel("more").found());
  EXPECT_FALSE(WaitAllFree(milliseconds(0)));
  EXPECT_TRUE(WaitAllFree());
  EXPECT_GE(std::chrono::steady_clock::now() - cancelled, milliseconds(300));
  EXPECT_EQ(worker_->Load().total_kv_blocks(), 8u);
}

// Over the wire: Load() and the process metrics count quarantined blocks; a
// client over kv_quarantine_client_percent gets NO_KV_SPACE while another client
// is served; a Cancel with kv_writes_done frees a reservation at once.
TEST_F(DecodeWorkerTest, QuarantineIsCountedBoundedPerClientAndSkippedWhenWritesAreDone) {
  DecodeWorkerOptions wo;
  wo.kv_quarantine_ms = 600'000;         // nothing leaves quarantine during the test
  wo.kv_quarantine_client_percent = 25;  // 2 of 8 blocks
  Start(8, wo);
  v1::ReserveResponse r;
  ASSERT_TRUE(Reserve("a1", 20, 4, &r, "addr:10.0.0.1").ok());  // 2 blocks
  EXPECT_TRUE(Cancel("a1").found());
  EXPECT_EQ(worker_->Load().quarantined_kv_blocks(), 2u);
  EXPECT_NE(
      MetricsRegistry::Default().RenderPrometheus().find("kvc_decode_quarantined_kv_blocks 2\n"),
      std::string::npos);
  const grpc::Status over = Reserve("a2", 20, 4, &r, "addr:10.0.0.1");
  EXPECT_EQ(over.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(Reason(over), "NO_KV_SPACE");
  ASSERT_TRUE(Reserve("b1", 20, 4, &r, "addr:10.0.0.2").ok()) << "another client is served";
  EXPECT_TRUE(Cancel("b1", /*kv_writes_done=*/true).found());
  EXPECT_EQ(worker_->Load().quarantined_kv_blocks(), 2u) << "b1 was not quarantined";
  EXPECT_EQ(worker_->Load().free_kv_blocks(), 6u);
}

// A prefill node's late write into a cancelled reservation (its RPC gave up while the
// transfer still ran) lands in quarantined blocks, never in the next request's: that
// request's stream still equals engine::Generate. With the quarantine off, the next
// reservation would get exactly the cancelled blocks (the free list is LIFO).
TEST_F(DecodeWorkerTest, LateWriteIntoCancelledReservationCorruptsNothing) {
  DecodeWorkerOptions wo;
  wo.kv_quarantine_ms = 2000;
  Start(8, wo);
  engine::SamplingOptions o;
  o.max_tokens = 12;
  o.ignore_eos = true;
  const auto prompt = Prompt(40, 9);  // 3 blocks, 52 tokens = 4 blocks committed
  v1::ReserveResponse stale;
  ASSERT_TRUE(Reserve("stale", prompt.size(), o.max_tokens, &stale).ok());
  EXPECT_TRUE(Cancel("stale").found());
  v1::ReserveResponse fresh;
  ASSERT_TRUE(Reserve("fresh", prompt.size(), o.max_tokens, &fresh).ok());
  for (const auto& s : stale.kv()) {
    for (const auto& f : fresh.kv()) EXPECT_NE(s.offset(), f.offset());
  }
  const int32_t first = PrefillInto(prompt, fresh, o);
  WriteGarbage(stale);  // the late write
  StreamResult got = ReadStream(DecodeRequest("fresh", prompt, first, o));
  ASSERT_TRUE(got.status.ok()) << got.status.error_message();
  got.tokens.insert(got.tokens.begin(), first);
  auto want = engine::Generate(*prefill_engine_, nullptr, prompt, o);
  ASSERT_TRUE(want.ok()) << want.status();
  EXPECT_EQ(got.tokens, want->token_ids);
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

// A reservation nobody claims is freed after its TTL (its blocks after the TTL plus
// the quarantine); Decode then finds nothing.
TEST_F(DecodeWorkerTest, UnclaimedReservationExpires) {
  DecodeWorkerOptions wo;
  wo.reservation_ttl_ms = 200;
  wo.kv_quarantine_ms = 300;
  Start(64, wo);
  v1::ReserveResponse r;
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_TRUE(Reserve("idle", 30, 10, &r).ok());
  EXPECT_EQ(worker_->Load().free_kv_blocks(), 61u);
  ASSERT_TRUE(WaitAllFree());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, milliseconds(500));
  engine::SamplingOptions o;
  o.max_tokens = 10;
  EXPECT_EQ(Reason(ReadStream(DecodeRequest("idle", Prompt(30, 0), 1, o)).status),
            "UNKNOWN_REQUEST");
}

// A request waiting for a batch slot gets empty keepalive messages on its stream
// (the conductor's idle timeout then only fires on a hung node).
TEST_F(DecodeWorkerTest, QueuedRequestGetsKeepAlives) {
  DecodeWorkerOptions wo;
  wo.max_batch = 1;
  wo.queued_keepalive_ms = 100;
  Start(512, wo);
  const auto busy = LongRequest("busy");
  const auto waiting = LongRequest("waiting");
  StreamResult busy_result;
  std::thread busy_reader([&] { busy_result = ReadStream(busy); });
  for (int i = 0; i < 200 && worker_->Load().running_requests() == 0; ++i) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  auto ctx = Context();
  auto reader = stub_->Decode(ctx.get(), waiting);
  v1::DecodeResponse msg;
  const auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(reader->Read(&msg));
    EXPECT_EQ(msg.token_ids_size(), 0);
    EXPECT_TRUE(msg.finish_reason().empty());
  }
  EXPECT_GE(std::chrono::steady_clock::now() - t0, milliseconds(150));
  EXPECT_EQ(worker_->Load().queued_requests(), 1u);
  EXPECT_TRUE(Cancel("waiting").found());
  EXPECT_TRUE(Cancel("busy").found());
  busy_reader.join();
  while (reader->Read(&msg)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_EQ(busy_result.status.error_code(), grpc::StatusCode::CANCELLED);
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

}  // namespace
}  // namespace kvc::decode::test

// RequestTable on a real KvCache and a fake clock: the committed-room ledger, TTL
// expiry at exactly the TTL, the quarantine of freed reservations' blocks, claim
// validation, growth from committed room, and cancellation in every phase. The TokenSink is a
// recording stand-in (the seam to gRPC).
#include "decode/internal/request_table.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace kvc::decode::internal {
namespace {

using std::chrono::milliseconds;

class RecordingSink : public TokenSink {
 public:
  void Push(int32_t token) override { tokens.push_back(token); }
  void Complete(const std::string& reason, std::span<const int32_t> last) override {
    finish_reason = reason;
  }
  void Fail(const Status& s) override { failed = s; }
  void Abort(const Status& s) override { failed = s; }
  bool Stalled(milliseconds) const override { return false; }
  void KeepAlive() override { ++keepalives; }
  int keepalives = 0;
  std::vector<int32_t> tokens;
  std::string finish_reason;
  Status failed;
};

class RequestTableTest : public ::testing::Test {
 protected:
  RequestTableTest()
      : cache_(Geometry(), 10),
        table_(cache_, Config(), clock_, milliseconds(1000), milliseconds(500)) {}
  static engine::KvCacheGeometry Geometry() {
    engine::KvCacheGeometry g;
    g.block_tokens = 16;
    g.bytes_per_token_per_layer = 8;
    return g;
  }
  static const engine::ModelConfig& Config() {
    static engine::ModelConfig c = [] {
      engine::ModelConfig m;
      m.vocab_size = 100;
      m.max_position_embeddings = 64;
      m.eos_token_ids = {99};
      return m;
    }();
    return c;
  }
  v1::DecodeRequest Claim(const std::string& id, uint32_t prompt_tokens, uint32_t max_tokens) {
    v1::DecodeRequest q;
    q.mutable_header()->set_request_id(id);
    q.set_prompt_tokens(prompt_tokens);
    for (uint32_t i = 0; i < prompt_tokens; ++i) q.add_prompt_token_ids(i % 90);
    q.set_first_token_id(5);
    q.mutable_sampling()->set_max_tokens(max_tokens);
    return q;
  }

  FakeClock clock_;
  engine::KvCache cache_;
  RequestTable table_;
};

TEST_F(RequestTableTest, CommittedRoomIsNotFree) {
  auto r = table_.Reserve("a", 20, 30);  // 2 blocks now, ceil(50/16) = 4 committed
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->blocks.size(), 2u);
  EXPECT_EQ(cache_.free_blocks(), 8);
  EXPECT_EQ(table_.Counts().free_kv_blocks, 6);
  EXPECT_EQ(table_.Counts().reserved, 1u);
  // The context (64) caps the room: ceil(64/16) = 4, not ceil((10+1000)/16).
  ASSERT_TRUE(table_.Reserve("b", 10, 1000).ok());
  EXPECT_EQ(table_.Counts().free_kv_blocks, 2);
  EXPECT_EQ(ReasonOf(table_.Reserve("c", 40, 1).status()), "NO_KV_SPACE");
  EXPECT_EQ(table_.Counts().free_kv_blocks, 2);  // a refusal changes nothing
  EXPECT_TRUE(table_.Cancel("a", absl::CancelledError("x")));
  // a's room is free at once; its 2 blocks wait out the quarantine.
  EXPECT_EQ(table_.Counts().free_kv_blocks, 4);
  EXPECT_EQ(table_.Counts().quarantined_kv_blocks, 2);
  EXPECT_EQ(cache_.free_blocks(), 7);
  clock_.Advance(milliseconds(500));
  EXPECT_EQ(table_.ReleaseQuarantine(), 2);
  EXPECT_EQ(table_.Counts().free_kv_blocks, 6);
  EXPECT_EQ(cache_.free_blocks(), 9);
}

// A reservation freed before Decode (cancelled or expired) keeps its blocks out of
// the pool for the quarantine delay, exactly, so a late prefill write cannot reach
// another request; a claimed request's blocks come back at once.
TEST_F(RequestTableTest, FreedReservationBlocksAreQuarantined) {
  auto a = table_.Reserve("a", 40, 8);  // 3 blocks
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_TRUE(table_.Cancel("a", absl::CancelledError("prefill failed")));
  EXPECT_EQ(table_.Counts().quarantined_kv_blocks, 3);
  EXPECT_EQ(table_.Counts().free_kv_blocks, 7);
  // Everything else may be reserved, but never a quarantined block.
  auto b = table_.Reserve("b", 64, 1);  // 4 blocks
  auto c = table_.Reserve("c", 47, 1);  // 3 blocks
  ASSERT_TRUE(b.ok()) << b.status();
  ASSERT_TRUE(c.ok()) << c.status();
  for (engine::BlockId q : a->blocks) {
    EXPECT_EQ(std::count(b->blocks.begin(), b->blocks.end(), q), 0) << "block " << q;
    EXPECT_EQ(std::count(c->blocks.begin(), c->blocks.end(), q), 0) << "block " << q;
  }
  const Status full = table_.Reserve("d", 1, 1).status();
  EXPECT_EQ(ReasonOf(full), "NO_KV_SPACE");
  EXPECT_NE(full.message().find("3 quarantined"), std::string::npos) << full;
  clock_.Advance(milliseconds(499));
  EXPECT_EQ(table_.ReleaseQuarantine(), 0);
  EXPECT_EQ(ReasonOf(table_.Reserve("d", 1, 1).status()), "NO_KV_SPACE");
  clock_.Advance(milliseconds(1));
  EXPECT_EQ(table_.ReleaseQuarantine(), 3);
  EXPECT_EQ(table_.Counts().quarantined_kv_blocks, 0);
  EXPECT_EQ(table_.Counts().free_kv_blocks, 3);
  EXPECT_TRUE(table_.Reserve("d", 1, 1).ok());

  // Claimed (Decode called: the KV writes are done), then cancelled: no quarantine.
  ASSERT_TRUE(table_.Claim(Claim("b", 64, 1), std::make_shared<RecordingSink>()).ok());
  EXPECT_TRUE(table_.Cancel("b", absl::CancelledError("x")));
  EXPECT_EQ(table_.Counts().quarantined_kv_blocks, 0);
  EXPECT_EQ(table_.Counts().free_kv_blocks, 6);  // c (3) and d (1) remain
}

// A reservation cancelled with kv_writes_done (its Prefill answered, or never ran)
// frees its blocks at once: no late write can arrive, so no quarantine.
TEST_F(RequestTableTest, CancelWithKvWritesDoneSkipsQuarantine) {
  ASSERT_TRUE(table_.Reserve("a", 40, 8).ok());  // 3 blocks
  EXPECT_TRUE(table_.Cancel("a", absl::CancelledError("client left"), /*kv_writes_done=*/true));
  EXPECT_EQ(table_.Counts().quarantined_kv_blocks, 0);
  EXPECT_EQ(table_.Counts().free_kv_blocks, 10);
  EXPECT_EQ(cache_.free_blocks(), 10);
  // Cancelled without knowing (quarantined), then told the writes are done: released.
  ASSERT_TRUE(table_.Reserve("b", 40, 8).ok());
  EXPECT_TRUE(table_.Cancel("b", absl::CancelledError("client left")));
  EXPECT_EQ(table_.Counts().quarantined_kv_blocks, 3);
  EXPECT_FALSE(table_.Cancel("b", absl::CancelledError("prefill answered"), true));
  EXPECT_EQ(table_.Counts().quarantined_kv_blocks, 0);
  EXPECT_EQ(cache_.free_blocks(), 10);
}

// One client's quarantine is bounded: while it holds quarantined blocks, a Reserve
// that would take it over the bound is refused (NO_KV_SPACE, nothing changes),
// other clients are served, and it is served again once its blocks are released.
TEST_F(RequestTableTest, PerClientQuarantineIsBounded) {
  RequestTable table(cache_, Config(), clock_, milliseconds(1000), milliseconds(500),
                     /*client_quarantine_blocks=*/4);
  ASSERT_TRUE(table.Reserve("a1", 40, 8, "addr:10.0.0.1").ok());  // 3 blocks
  EXPECT_TRUE(table.Cancel("a1", absl::CancelledError("client left")));
  EXPECT_EQ(table.Counts().quarantined_kv_blocks, 3);
  const Status over = table.Reserve("a2", 40, 8, "addr:10.0.0.1").status();  // 3 + 3 > 4
  EXPECT_EQ(ReasonOf(over), "NO_KV_SPACE") << over;
  EXPECT_NE(over.message().find("addr:10.0.0.1 holds 3 KV blocks in quarantine"), std::string::npos)
      << over;
  EXPECT_EQ(table.Counts().client_quarantine_refusals, 1u);
  EXPECT_EQ(table.Counts().reserved, 0u) << "a refusal changes nothing";
  EXPECT_EQ(table.Counts().free_kv_blocks, 7);
  // Another client is not affected; the same client may still fit under the bound.
  ASSERT_TRUE(table.Reserve("b1", 40, 8, "addr:10.0.0.2").ok());
  ASSERT_TRUE(table.Reserve("a3", 16, 1, "addr:10.0.0.1").ok());  // 3 + 1 = 4
  ASSERT_TRUE(table.Reserve("u1", 16, 1).ok()) << "no client id: not bounded";
  EXPECT_TRUE(table.Cancel("a3", absl::CancelledError("x"), /*kv_writes_done=*/true));
  EXPECT_EQ(table.Counts().quarantined_kv_blocks, 3) << "a3 freed at once";
  clock_.Advance(milliseconds(500));
  EXPECT_EQ(table.ReleaseQuarantine(), 3);
  EXPECT_TRUE(table.Reserve("a2", 40, 8, "addr:10.0.0.1").ok()) << "released: served again";
}

// A queued request is due for a keepalive every interval from its claim; a running
// one never is.
TEST_F(RequestTableTest, QueuedRequestsAreDueForKeepAlive) {
  ASSERT_TRUE(table_.Reserve("a", 8, 4).ok());
  ASSERT_TRUE(table_.Claim(Claim("a", 8, 4), std::make_shared<RecordingSink>()).ok());
  clock_.Advance(milliseconds(99));
  EXPECT_TRUE(table_.DueForKeepAlive(milliseconds(100)).empty());
  clock_.Advance(milliseconds(1));
  auto due = table_.DueForKeepAlive(milliseconds(100));
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0]->id, "a");
  EXPECT_TRUE(table_.DueForKeepAlive(milliseconds(100)).empty());  // just kept alive
  clock_.Advance(milliseconds(100));
  EXPECT_EQ(table_.DueForKeepAlive(milliseconds(100)).size(), 1u);
  ASSERT_EQ(table_.Admit(8).size(), 1u);
  clock_.Advance(milliseconds(1000));
  EXPECT_TRUE(table_.DueForKeepAlive(milliseconds(100)).empty());  // running
}

// An expired reservation's blocks are quarantined too; a closing table frees them.
TEST_F(RequestTableTest, ExpiredReservationIsQuarantinedUntilDrain) {
  ASSERT_TRUE(table_.Reserve("a", 5, 5).ok());
  clock_.Advance(milliseconds(1000));
  EXPECT_EQ(table_.ExpireReservations(), 1);
  EXPECT_EQ(table_.Counts().quarantined_kv_blocks, 1);
  EXPECT_EQ(table_.Counts().free_kv_blocks, 9);
  table_.Close();
  EXPECT_TRUE(table_.DrainWaiting().empty());
  EXPECT_EQ(table_.Counts().quarantined_kv_blocks, 0);
  EXPECT_EQ(table_.Counts().free_kv_blocks, 10);
}

TEST_F(RequestTableTest, ReservationExpiresAtItsTtl) {
  ASSERT_TRUE(table_.Reserve("a", 5, 5).ok());
  clock_.Advance(milliseconds(999));
  EXPECT_EQ(table_.ExpireReservations(), 0);
  clock_.Advance(milliseconds(1));
  EXPECT_EQ(table_.ExpireReservations(), 1);
  EXPECT_EQ(table_.Counts().free_kv_blocks, 9);  // its block is quarantined
  EXPECT_EQ(ReasonOf(table_.Claim(Claim("a", 5, 5), nullptr)), "UNKNOWN_REQUEST");
  clock_.Advance(milliseconds(500));
  table_.ReleaseQuarantine();
  EXPECT_EQ(table_.Counts().free_kv_blocks, 10);
}

TEST_F(RequestTableTest, ClaimedRequestsDoNotExpireAndGrowFromTheirRoom) {
  ASSERT_TRUE(table_.Reserve("a", 16, 20).ok());  // 1 block now, 3 committed
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(table_.Claim(Claim("a", 16, 20), sink).ok());
  EXPECT_EQ(ReasonOf(table_.Claim(Claim("a", 16, 20), sink)), "ALREADY_DECODING");
  clock_.Advance(milliseconds(5000));
  EXPECT_EQ(table_.ExpireReservations(), 0);
  auto running = table_.Admit(8);
  ASSERT_EQ(running.size(), 1u);
  Request& r = *running[0];
  EXPECT_EQ(r.seq.tokens.size(), 17u);  // prompt + first token
  EXPECT_EQ(r.seq.num_computed, 16);
  ASSERT_TRUE(table_.Grow(r).ok());  // position 16 needs a second block
  EXPECT_EQ(r.seq.blocks.size(), 2u);
  EXPECT_EQ(cache_.free_blocks(), 8);
  EXPECT_EQ(table_.Counts().free_kv_blocks, 7);  // the room shrank as the cache did
  r.seq.tokens.resize(60);
  EXPECT_FALSE(table_.Grow(r).ok());  // past the 3 committed blocks
  table_.Retire(r);
  EXPECT_EQ(table_.Counts().free_kv_blocks, 10);
  EXPECT_EQ(table_.Counts().running, 0u);
}

TEST_F(RequestTableTest, ClaimValidation) {
  ASSERT_TRUE(table_.Reserve("a", 8, 4).ok());
  auto q = Claim("a", 8, 4);
  q.set_prompt_tokens(7);
  EXPECT_EQ(ReasonOf(table_.Claim(q, nullptr)), "PROMPT_MISMATCH");
  q = Claim("a", 8, 4);
  q.set_prompt_token_ids(3, 100);
  EXPECT_EQ(ReasonOf(table_.Claim(q, nullptr)), "TOKEN_OUT_OF_RANGE");
  EXPECT_EQ(ReasonOf(table_.Claim(Claim("a", 8, 5), nullptr)), "MAX_TOKENS_OVER_RESERVATION");
  EXPECT_EQ(ReasonOf(table_.Claim(Claim("", 8, 4), nullptr)), "MISSING_REQUEST_ID");
  EXPECT_EQ(table_.Counts().queued, 0u);
  EXPECT_TRUE(table_.Claim(Claim("a", 8, 0), std::make_shared<RecordingSink>()).ok());
  EXPECT_EQ(table_.Counts().queued, 1u);
  EXPECT_EQ(ReasonOf(table_.Reserve("x", 65, 1).status()), "PROMPT_TOO_LONG");
  EXPECT_EQ(ReasonOf(table_.Reserve("a", 1, 1).status()), "DUPLICATE_REQUEST");
}

TEST_F(RequestTableTest, CancelInEveryPhase) {
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(table_.Reserve("queued", 8, 4).ok());
  ASSERT_TRUE(table_.Claim(Claim("queued", 8, 4), sink).ok());
  EXPECT_TRUE(table_.Cancel("queued", absl::CancelledError("bye")));  // freed at once
  EXPECT_EQ(sink->failed.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(table_.Counts().free_kv_blocks, 10);

  ASSERT_TRUE(table_.Reserve("running", 8, 4).ok());
  ASSERT_TRUE(table_.Claim(Claim("running", 8, 4), std::make_shared<RecordingSink>()).ok());
  auto running = table_.Admit(8);
  ASSERT_EQ(running.size(), 1u);
  EXPECT_TRUE(table_.CancelStatus(*running[0]).ok());
  EXPECT_TRUE(table_.Cancel("running", absl::CancelledError("bye")));  // only flagged
  EXPECT_EQ(table_.CancelStatus(*running[0]).code(), absl::StatusCode::kCancelled);
  EXPECT_LT(table_.Counts().free_kv_blocks, 10);
  EXPECT_FALSE(table_.WaitGone("running", milliseconds(1)));
  table_.Retire(*running[0]);  // what the engine thread does next
  EXPECT_TRUE(table_.WaitGone("running", milliseconds(1)));
  EXPECT_EQ(table_.Counts().free_kv_blocks, 10);
  EXPECT_FALSE(table_.Cancel("running", absl::CancelledError("again")));
}

TEST_F(RequestTableTest, CloseRefusesAndDrains) {
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(table_.Reserve("r", 8, 4).ok());
  ASSERT_TRUE(table_.Reserve("q", 8, 4).ok());
  ASSERT_TRUE(table_.Claim(Claim("q", 8, 4), sink).ok());
  table_.Close();
  EXPECT_EQ(ReasonOf(table_.Reserve("n", 8, 4).status()), "SHUTTING_DOWN");
  EXPECT_FALSE(table_.WaitForWork(false, milliseconds(1)));
  auto drained = table_.DrainWaiting();
  ASSERT_EQ(drained.size(), 1u);  // only "q" has a stream to end
  EXPECT_EQ(drained[0]->id, "q");
  EXPECT_EQ(table_.Counts().free_kv_blocks, 10);
}

}  // namespace
}  // namespace kvc::decode::internal

// PrefillWorker with real parts: kvc-tiny on the CPU engine, real transfer engines
// on loopback, a "decode node" that is a second engine whose KV arena is registered
// with its own transfer engine, and (for the pool) an in-process kvc-master with
// real store segments.
#include "kvc/prefill/prefill_worker.h"

#include <gtest/gtest.h>

#include <cmath>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "kvc/common/block_hash.h"
#include "kvc/engine/generator.h"
#include "kvc/engine/tiny_model.h"
#include "kvc/rpc/grpc_status.h"
#include "prefill/prefill_test_cluster.h"
#include "transfer/testing/slice_gate.h"

namespace kvc::prefill {
namespace {

using testing::InProcessMaster;
using testing::Node;
using testing::PrefillServer;

std::vector<int32_t> Prompt(int n, int seed) {
  std::vector<int32_t> p;
  for (int i = 0; i < n; ++i) p.push_back((i * 37 + seed * 11 + 5) % 256);
  return p;
}

v1::PrefillRequest Request(const std::string& id, const std::vector<int32_t>& prompt,
                           const std::vector<v1::MemoryDescriptor>& kv, uint32_t chunk = 0) {
  v1::PrefillRequest r;
  r.mutable_header()->set_request_id(id);
  for (int32_t t : prompt) r.add_token_ids(static_cast<uint32_t>(t));
  for (const auto& d : kv) *r.add_decode_kv() = d;
  r.set_chunk_tokens(chunk);
  r.set_model_id(engine::kTinyModelId);
  return r;
}

// Adds the first `blocks` chained keys of the prompt, held by `holder`.
void AddPrefix(v1::PrefillRequest& r, int blocks, const std::string& holder) {
  const std::vector<uint32_t> tokens(r.token_ids().begin(), r.token_ids().end());
  const auto keys = ChainedBlockKeys(engine::kTinyModelId, tokens, 16);
  for (int i = 0; i < blocks; ++i) {
    auto* p = r.add_prefix_blocks();
    p->mutable_key()->set_hi(keys[static_cast<size_t>(i)].hi);
    p->mutable_key()->set_lo(keys[static_cast<size_t>(i)].lo);
    p->set_holder_node_id(holder);
  }
}

std::string ReasonOfGrpc(const grpc::Status& s) { return ReasonOf(FromGrpcStatus(s)); }

// The first token of a greedy single-node generation.
int32_t GreedyFirstToken(engine::Engine& engine, const std::vector<int32_t>& prompt) {
  engine::SamplingOptions o;
  o.max_tokens = 1;
  auto r = engine::Generate(engine, nullptr, prompt, o);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? r->token_ids.at(0) : -1;
}

// Asserts the KV in `got` (decode node blocks) equals a local prefill of `prompt`
// on `ref`, for every valid token of every layer, within 1e-5.
void ExpectKvMatches(Node& decode, const std::vector<engine::BlockId>& got, Node& ref,
                     const std::vector<int32_t>& prompt) {
  engine::Sequence seq;
  ASSERT_TRUE(ref.engine().Prefill(seq, prompt, 0, 0).ok());
  engine::KvCache& a = decode.engine().cache();
  engine::KvCache& b = ref.engine().cache();
  const auto& g = a.geometry();
  const int64_t row = g.kv_heads * g.head_dim;
  const auto n = static_cast<int64_t>(prompt.size());
  ASSERT_EQ(got.size(), seq.blocks.size());
  int64_t mismatches = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const int64_t valid =
        std::min<int64_t>(g.block_tokens, n - static_cast<int64_t>(i) * g.block_tokens);
    for (int64_t l = 0; l < g.num_layers; ++l) {
      for (int64_t e = 0; e < valid * row; ++e) {
        if (std::abs(a.Keys(got[i], l)[e] - b.Keys(seq.blocks[i], l)[e]) > 1e-5f) ++mismatches;
        if (std::abs(a.Values(got[i], l)[e] - b.Values(seq.blocks[i], l)[e]) > 1e-5f) ++mismatches;
      }
    }
  }
  EXPECT_EQ(mismatches, 0);
  ref.engine().Release(seq);
}

// Waits until the pool holds every full block of `prompt`.
bool WaitStored(store::StoreClient& store, const std::vector<int32_t>& prompt) {
  const std::vector<uint32_t> tokens(prompt.begin(), prompt.end());
  const auto keys = ChainedBlockKeys(engine::kTinyModelId, tokens, 16);
  for (int i = 0; i < 250; ++i) {
    auto exists = store.BatchExists(keys);
    if (exists.ok() && std::all_of(exists->begin(), exists->end(), [](bool b) { return b; })) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

TEST(PrefillWorkerTest, KvAndFirstTokenMatchLocalPrefill) {
  Node prefill("prefill-0", ""), decode("decode-0", ""), ref("ref", "");
  PrefillServer server(prefill, {});
  const auto prompt = Prompt(37, 1);
  for (uint32_t chunk : {0u, 7u}) {
    SCOPED_TRACE("chunk " + std::to_string(chunk));
    const auto blocks = decode.Allocate(37);
    v1::PrefillResponse resp;
    const grpc::Status s = server.Call(
        Request("r" + std::to_string(chunk), prompt, decode.Describe(blocks), chunk), &resp);
    ASSERT_TRUE(s.ok()) << s.error_message();
    EXPECT_EQ(resp.cached_tokens(), 0u);
    EXPECT_EQ(resp.computed_tokens(), 37u);
    EXPECT_EQ(resp.stored_blocks(), 0u);  // no pool
    EXPECT_GE(resp.transfer_seconds(), 0.0);
    EXPECT_EQ(static_cast<int32_t>(resp.first_token_id()), GreedyFirstToken(ref.engine(), prompt));
    ExpectKvMatches(decode, blocks, ref, prompt);
    decode.Free(blocks);
  }
  const v1::NodeLoad load = server.worker().Load();
  EXPECT_EQ(load.free_kv_blocks(), load.total_kv_blocks());  // nothing left allocated
  EXPECT_EQ(load.total_kv_blocks(), 64u);
  EXPECT_GT(load.prefill_tokens_per_second(), 0.0);
  EXPECT_EQ(load.queued_requests(), 0u);
}

TEST(PrefillWorkerTest, SeededSamplingMatchesSampler) {
  Node prefill("prefill-0", ""), decode("decode-0", ""), ref("ref", "");
  PrefillServer server(prefill, {});
  const auto prompt = Prompt(20, 2);
  const auto blocks = decode.Allocate(20);
  auto req = Request("s", prompt, decode.Describe(blocks));
  req.mutable_sampling()->set_temperature(1.5f);
  req.mutable_sampling()->set_top_k(50);
  req.mutable_sampling()->set_seed(1234);
  req.mutable_sampling()->set_has_seed(true);
  v1::PrefillResponse resp;
  ASSERT_TRUE(server.Call(req, &resp).ok());
  engine::SamplingOptions o;
  o.temperature = 1.5;
  o.top_k = 50;
  o.seed = 1234;
  o.max_tokens = 1;
  auto r = engine::Generate(ref.engine(), nullptr, prompt, o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(static_cast<int32_t>(resp.first_token_id()), r->token_ids.at(0));
}

TEST(PrefillWorkerTest, ReusesPooledPrefix) {
  InProcessMaster master;
  Node prefill("prefill-0", master.address()), decode("decode-0", ""), ref("ref", "");
  PrefillServer server(prefill, {});
  const auto prompt = Prompt(45, 3);
  const int32_t expected_first = GreedyFirstToken(ref.engine(), prompt);

  const auto first_blocks = decode.Allocate(45);
  v1::PrefillResponse first;
  ASSERT_TRUE(server.Call(Request("a", prompt, decode.Describe(first_blocks)), &first).ok());
  EXPECT_EQ(first.cached_tokens(), 0u);
  EXPECT_EQ(first.stored_blocks(), 2u);  // two full blocks of 16; the partial one is not shared
  ASSERT_TRUE(WaitStored(*prefill.store(), prompt));

  const auto blocks = decode.Allocate(45);
  auto req = Request("b", prompt, decode.Describe(blocks), 7);
  AddPrefix(req, 2, "prefill-0");
  v1::PrefillResponse resp;
  const grpc::Status s = server.Call(req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.cached_tokens(), 32u);
  EXPECT_EQ(resp.computed_tokens(), 13u);
  EXPECT_EQ(resp.fetched_tokens(), 0u);  // held by this node
  EXPECT_EQ(resp.stored_blocks(), 0u);   // nothing new to put
  EXPECT_EQ(static_cast<int32_t>(resp.first_token_id()), expected_first);
  ExpectKvMatches(decode, blocks, ref, prompt);

  // A prompt that is all cached blocks: the last token is recomputed for its logits.
  const std::vector<int32_t> whole(prompt.begin(), prompt.begin() + 32);
  const auto whole_blocks = decode.Allocate(32);
  auto whole_req = Request("c", whole, decode.Describe(whole_blocks));
  AddPrefix(whole_req, 2, "prefill-0");
  ASSERT_TRUE(server.Call(whole_req, &resp).ok());
  EXPECT_EQ(resp.cached_tokens(), 32u);
  EXPECT_EQ(static_cast<int32_t>(resp.first_token_id()), GreedyFirstToken(ref.engine(), whole));
  ExpectKvMatches(decode, whole_blocks, ref, whole);

  server.worker().Shutdown();  // waits for background puts
  const v1::NodeLoad load = server.worker().Load();
  EXPECT_EQ(load.free_kv_blocks(), load.total_kv_blocks());
}

TEST(PrefillWorkerTest, FetchesPrefixHeldByAnotherNode) {
  InProcessMaster master;
  Node node_a("prefill-a", master.address()), node_b("prefill-b", master.address());
  Node decode("decode-0", ""), ref("ref", "");
  PrefillServer a(node_a, {}), b(node_b, {});
  const auto prompt = Prompt(40, 4);

  const auto b_blocks = decode.Allocate(40);
  v1::PrefillResponse resp;
  ASSERT_TRUE(b.Call(Request("on-b", prompt, decode.Describe(b_blocks)), &resp).ok());
  ASSERT_TRUE(WaitStored(*node_b.store(), prompt));
  const std::vector<uint32_t> tokens(prompt.begin(), prompt.end());
  auto match = node_a.store()->MatchPrefix(ChainedBlockKeys(engine::kTinyModelId, tokens, 16));
  ASSERT_TRUE(match.ok());
  EXPECT_EQ(match->best_node_id, "prefill-b");  // B's own segment holds them
  EXPECT_EQ(match->best_matched_blocks, 2u);

  const auto blocks = decode.Allocate(40);
  auto req = Request("on-a", prompt, decode.Describe(blocks));
  AddPrefix(req, 2, "prefill-b");
  const grpc::Status s = a.Call(req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.cached_tokens(), 32u);
  EXPECT_EQ(resp.fetched_tokens(), 32u);
  EXPECT_EQ(static_cast<int32_t>(resp.first_token_id()), GreedyFirstToken(ref.engine(), prompt));
  ExpectKvMatches(decode, blocks, ref, prompt);
}

TEST(PrefillWorkerTest, MissingPoolBlocksAreComputed) {
  InProcessMaster master;
  Node prefill("prefill-0", master.address()), decode("decode-0", ""), ref("ref", "");
  PrefillWorkerOptions options;
  options.store_blocks = false;
  PrefillServer server(prefill, options);
  const auto prompt = Prompt(33, 5);
  const auto blocks = decode.Allocate(33);
  auto req = Request("m", prompt, decode.Describe(blocks));
  AddPrefix(req, 2, "prefill-0");  // claimed, but the pool has none of them
  v1::PrefillResponse resp;
  ASSERT_TRUE(server.Call(req, &resp).ok());
  EXPECT_EQ(resp.cached_tokens(), 0u);
  EXPECT_EQ(resp.computed_tokens(), 33u);
  EXPECT_EQ(resp.stored_blocks(), 0u);
  ExpectKvMatches(decode, blocks, ref, prompt);
  EXPECT_EQ(server.worker().Load().free_kv_blocks(), 64u);
}

TEST(PrefillWorkerTest, RejectsBadRequestsAndLeavesNothingAllocated) {
  Node prefill("prefill-0", ""), decode("decode-0", "");
  PrefillServer server(prefill, {});
  const auto prompt = Prompt(37, 6);
  const auto blocks = decode.Allocate(37);
  const auto kv = decode.Describe(blocks);
  struct Case {
    std::string name;
    v1::PrefillRequest request;
    grpc::StatusCode code;
    std::string reason;
  };
  std::vector<Case> cases;
  cases.push_back({"empty", Request("x", {}, {}), grpc::INVALID_ARGUMENT, "EMPTY_PROMPT"});
  auto vocab = Request("x", prompt, kv);
  vocab.set_token_ids(3, 100000);
  cases.push_back({"vocab", vocab, grpc::INVALID_ARGUMENT, "TOKEN_OUT_OF_VOCAB"});
  cases.push_back(
      {"long", Request("x", Prompt(4097, 1), kv), grpc::INVALID_ARGUMENT, "PROMPT_TOO_LONG"});
  cases.push_back({"count", Request("x", prompt, {kv[0], kv[1]}), grpc::INVALID_ARGUMENT,
                   "KV_LAYOUT_MISMATCH"});
  auto length = Request("x", prompt, kv);
  length.mutable_decode_kv(2)->set_length(kv[2].length() / 2);
  cases.push_back({"length", length, grpc::INVALID_ARGUMENT, "KV_LAYOUT_MISMATCH"});
  auto no_id = Request("", prompt, kv);
  cases.push_back({"no id", no_id, grpc::INVALID_ARGUMENT, "MISSING_REQUEST_ID"});
  auto model = Request("x", prompt, kv);
  model.set_model_id("other-model");
  cases.push_back({"model", model, grpc::INVALID_ARGUMENT, "MODEL_MISMATCH"});
  auto prefix = Request("x", prompt, kv);
  AddPrefix(prefix, 2, "n");
  prefix.mutable_prefix_blocks(1)->mutable_key()->set_lo(42);
  cases.push_back({"prefix key", prefix, grpc::INVALID_ARGUMENT, "BAD_PREFIX"});
  auto segment = Request("x", prompt, kv);
  segment.mutable_decode_kv(1)->set_segment_name("127.0.0.1:1");
  cases.push_back({"segment", segment, grpc::UNAVAILABLE, "DECODE_UNREACHABLE"});
  auto outside = Request("x", prompt, kv);
  outside.mutable_decode_kv(2)->set_offset(64);  // not inside decode's registered arena
  cases.push_back({"write", outside, grpc::UNAVAILABLE, "DECODE_UNREACHABLE"});
  auto sampling = Request("x", prompt, kv);
  sampling.mutable_sampling()->set_temperature(-1);
  cases.push_back({"sampling", sampling, grpc::INVALID_ARGUMENT, "BAD_SAMPLING"});
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    v1::PrefillResponse resp;
    const grpc::Status s = server.Call(c.request, &resp);
    EXPECT_EQ(s.error_code(), c.code) << s.error_message();
    EXPECT_EQ(ReasonOfGrpc(s), c.reason) << s.error_message();
    EXPECT_EQ(server.worker().Load().free_kv_blocks(), 64u);
  }
  // Still serving afterwards.
  v1::PrefillResponse resp;
  EXPECT_TRUE(server.Call(Request("ok", prompt, kv), &resp).ok());
}

TEST(PrefillWorkerTest, QueueFullAndCancelOfQueuedRequest) {
  transfer::test_util::SliceGate gate;  // holds the first KV write: the engine thread waits
  Node prefill("prefill-0", "", &gate), decode("decode-0", "");
  PrefillWorkerOptions options;
  options.max_queue = 1;
  PrefillServer server(prefill, options);
  struct OpenAtExit {
    transfer::test_util::SliceGate& g;
    ~OpenAtExit() { g.Open(); }
  } open_at_exit{gate};
  const auto prompt = Prompt(37, 7);
  const auto kv1 = decode.Describe(decode.Allocate(37));
  const auto kv2 = decode.Describe(decode.Allocate(37));
  grpc::Status s1, s2;
  v1::PrefillResponse r1, r2;
  std::thread t1([&] { s1 = server.Call(Request("one", prompt, kv1), &r1); });
  gate.WaitHeld();
  std::thread t2([&] { s2 = server.Call(Request("two", prompt, kv2), &r2); });
  for (int i = 0; i < 500 && server.worker().Load().queued_requests() < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  v1::NodeLoad load = server.worker().Load();
  EXPECT_EQ(load.running_requests(), 1u);
  EXPECT_EQ(load.queued_requests(), 1u);
  EXPECT_EQ(load.queued_prefill_tokens(), 74u);  // running + queued prompt tokens

  v1::PrefillResponse r3;
  const grpc::Status s3 = server.Call(Request("three", prompt, kv2), &r3);
  EXPECT_EQ(s3.error_code(), grpc::RESOURCE_EXHAUSTED);
  EXPECT_EQ(ReasonOfGrpc(s3), "QUEUE_FULL");

  v1::CancelRequest cancel;
  cancel.mutable_header()->set_request_id("two");
  v1::CancelResponse cancelled;
  grpc::ClientContext ctx;
  ASSERT_TRUE(server.stub().Cancel(&ctx, cancel, &cancelled).ok());
  EXPECT_TRUE(cancelled.found());
  EXPECT_TRUE(cancelled.kv_writes_done()) << "a queued job never wrote anything";
  t2.join();
  EXPECT_EQ(s2.error_code(), grpc::CANCELLED);
  EXPECT_EQ(server.worker().Load().queued_requests(), 0u);

  // A queued request whose end-to-end deadline passes leaves the queue.
  auto late = Request("late", prompt, kv2);
  late.mutable_header()->set_deadline_unix_ms(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count() +
      200);
  v1::PrefillResponse r4;
  const grpc::Status s4 = server.Call(late, &r4);
  EXPECT_EQ(s4.error_code(), grpc::DEADLINE_EXCEEDED);
  EXPECT_EQ(server.worker().Load().queued_requests(), 0u);

  cancel.mutable_header()->set_request_id("unknown");
  grpc::ClientContext ctx2;
  ASSERT_TRUE(server.stub().Cancel(&ctx2, cancel, &cancelled).ok());
  EXPECT_FALSE(cancelled.found());
  EXPECT_FALSE(cancelled.kv_writes_done()) << "unknown: its Prefill may still arrive";

  gate.Open();
  t1.join();
  EXPECT_TRUE(s1.ok()) << s1.error_message();
  EXPECT_EQ(server.worker().Load().free_kv_blocks(), 64u);
}

// Waits (bounded, 5 s) until `pred` holds.
template <typename Pred>
bool WaitFor(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// A queued request whose client goes away without a Cancel RPC does not hold its
// queue slot: a full queue is swept before it refuses, so the next request is
// admitted (and served) instead of getting QUEUE_FULL.
TEST(PrefillWorkerTest, AbandonedQueuedRequestFreesItsSlot) {
  transfer::test_util::SliceGate gate;  // holds the first KV write: the engine thread waits
  Node prefill("prefill-0", "", &gate), decode("decode-0", "");
  PrefillWorkerOptions options;
  options.max_queue = 1;
  PrefillServer server(prefill, options);
  struct OpenAtExit {
    transfer::test_util::SliceGate& g;
    ~OpenAtExit() { g.Open(); }
  } open_at_exit{gate};
  const auto prompt = Prompt(37, 7);
  const auto kv1 = decode.Describe(decode.Allocate(37));
  const auto kv2 = decode.Describe(decode.Allocate(37));
  const auto kv3 = decode.Describe(decode.Allocate(41));
  grpc::Status s1, s2, s3;
  v1::PrefillResponse r1, r2, r3;
  std::thread t1([&] { s1 = server.Call(Request("one", prompt, kv1), &r1); });
  gate.WaitHeld();
  grpc::ClientContext abandoned;
  abandoned.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  std::thread t2([&] { s2 = server.stub().Prefill(&abandoned, Request("two", prompt, kv2), &r2); });
  ASSERT_TRUE(WaitFor([&] { return server.worker().Load().queued_requests() == 1; }));
  abandoned.TryCancel();  // the client leaves; no Cancel RPC reaches the worker
  t2.join();
  EXPECT_EQ(s2.error_code(), grpc::CANCELLED);

  // The server learns of the cancellation asynchronously (RST_STREAM): until it
  // has, "three" may still find the queue full; it must be admitted within the
  // deadline and while "one" still holds the engine.
  const auto prompt3 = Prompt(41, 7);
  std::thread t3([&] {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    do {
      s3 = server.Call(Request("three", prompt3, kv3), &r3);
      if (s3.error_code() != grpc::RESOURCE_EXHAUSTED) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    } while (std::chrono::steady_clock::now() < deadline);
  });
  // 37 running + 41 queued: "three" took the slot.
  EXPECT_TRUE(WaitFor([&] { return server.worker().Load().queued_prefill_tokens() == 78; }));
  gate.Open();
  t1.join();
  t3.join();
  EXPECT_TRUE(s1.ok()) << s1.error_message();
  EXPECT_TRUE(s3.ok()) << "the abandoned request kept the only queue slot: " << s3.error_message();
  EXPECT_EQ(server.worker().Load().queued_requests(), 0u);
}

TEST(PrefillWorkerTest, CancelOfRunningRequestFreesItsBlocks) {
  transfer::test_util::SliceGate gate;
  Node prefill("prefill-0", "", &gate), decode("decode-0", "");
  PrefillServer server(prefill, {});
  struct OpenAtExit {
    transfer::test_util::SliceGate& g;
    ~OpenAtExit() { g.Open(); }
  } open_at_exit{gate};
  const auto prompt = Prompt(37, 9);
  const auto kv = decode.Describe(decode.Allocate(37));
  grpc::Status s1;
  v1::PrefillResponse r1;
  std::thread t1([&] { s1 = server.Call(Request("run", prompt, kv), &r1); });
  gate.WaitHeld();  // running, its first KV write held
  EXPECT_LT(server.worker().Load().free_kv_blocks(), 64u);
  v1::CancelRequest cancel;
  cancel.mutable_header()->set_request_id("run");
  v1::CancelResponse found;
  grpc::ClientContext ctx;
  ASSERT_TRUE(server.stub().Cancel(&ctx, cancel, &found).ok());  // waits 2 s for the job
  EXPECT_TRUE(found.found());
  EXPECT_FALSE(found.kv_writes_done()) << "its KV write is still held: it may land later";
  gate.Open();
  t1.join();
  EXPECT_EQ(s1.error_code(), grpc::CANCELLED);
  EXPECT_EQ(server.worker().Load().free_kv_blocks(), 64u);
  EXPECT_EQ(server.worker().Load().running_requests(), 0u);
}

// Holds every slice sent to segment `peer` (set later) until Open().
class PeerGate : public transfer::FaultInjector {
 public:
  transfer::FaultDecision OnSlice(const transfer::SliceInfo& s) override {
    std::unique_lock lock(mu_);
    if (s.peer != peer_) return {};
    cv_.wait(lock, [&] { return open_; });
    return {};
  }
  void Hold(const std::string& peer) {
    std::lock_guard lock(mu_);
    peer_ = peer;
  }
  void Open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::string peer_;
  bool open_ = false;
};

TEST(PrefillWorkerTest, BlocksPinnedByPutsComeBackWhenTheCacheIsShort) {
  InProcessMaster master;
  PeerGate gate;  // holds the pool puts into the prefill node's own segment
  // 8 blocks: a 100-token prompt needs 7, and its 6 full blocks stay pinned until put.
  Node prefill("prefill-0", master.address(), &gate, 8), decode("decode-0", ""), ref("ref", "");
  struct OpenAtExit {
    PeerGate& g;
    ~OpenAtExit() { g.Open(); }
  } open_at_exit{gate};
  gate.Hold(prefill.transfer().LocalSegment().name);
  PrefillServer server(prefill, {});
  const auto p1 = Prompt(100, 10), p2 = Prompt(100, 11);
  const auto blocks1 = decode.Allocate(100), blocks2 = decode.Allocate(100);
  v1::PrefillResponse r1, r2;
  ASSERT_TRUE(server.Call(Request("p1", p1, decode.Describe(blocks1)), &r1).ok());
  EXPECT_EQ(r1.stored_blocks(), 6u);
  EXPECT_EQ(server.worker().Load().free_kv_blocks(), 2u);  // 6 pinned by the held put
  grpc::Status s2;
  std::thread t([&] { s2 = server.Call(Request("p2", p2, decode.Describe(blocks2)), &r2); });
  // p2 is admitted and then waits for the held put's blocks (bounded wait).
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (server.worker().Load().running_requests() != 1u &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(server.worker().Load().running_requests(), 1u);  // waiting for the put
  gate.Open();
  t.join();
  ASSERT_TRUE(s2.ok()) << s2.error_message();
  EXPECT_EQ(static_cast<int32_t>(r2.first_token_id()), GreedyFirstToken(ref.engine(), p2));
  ExpectKvMatches(decode, blocks2, ref, p2);
  server.worker().Shutdown();
  EXPECT_EQ(server.worker().Load().free_kv_blocks(), 8u);
  EXPECT_TRUE(WaitStored(*prefill.store(), p1));
  EXPECT_TRUE(WaitStored(*prefill.store(), p2));
}

// Also the measurement quoted in docs/serving.md: a 1000-token prompt in chunks
// of 128, KV streamed layer by layer while the next layers compute.
TEST(PrefillWorkerTest, LongPromptInChunks) {
  InProcessMaster master;
  Node prefill("prefill-0", master.address(), nullptr, 128);
  Node decode("decode-0", "", nullptr, 128), ref("ref", "", nullptr, 128);
  PrefillServer server(prefill, {});
  const auto prompt = Prompt(1000, 8);
  const int32_t expected_first = GreedyFirstToken(ref.engine(), prompt);
  const auto blocks = decode.Allocate(1000);
  v1::PrefillResponse resp;
  grpc::Status s = server.Call(Request("long", prompt, decode.Describe(blocks), 128), &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(static_cast<int32_t>(resp.first_token_id()), expected_first);
  ExpectKvMatches(decode, blocks, ref, prompt);
  const double kv_mb =
      static_cast<double>(blocks.size() * decode.engine().cache().geometry().block_bytes()) / 1e6;
  std::printf(
      "prefill 1000 tokens (chunk 128): prefill_seconds %.4f, transfer wait %.4f s after "
      "the last layer, %.2f MB of KV, %.0f tokens/s\n",
      resp.prefill_seconds(), resp.transfer_seconds(), kv_mb,
      server.worker().Load().prefill_tokens_per_second());

  // Again with the 62 full blocks from the pool: only the last 8 tokens are computed.
  ASSERT_TRUE(WaitStored(*prefill.store(), prompt));
  const auto again = decode.Allocate(1000);
  auto req = Request("long-again", prompt, decode.Describe(again), 128);
  AddPrefix(req, 62, "prefill-0");
  s = server.Call(req, &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(resp.cached_tokens(), 992u);
  EXPECT_EQ(static_cast<int32_t>(resp.first_token_id()), expected_first);
  ExpectKvMatches(decode, again, ref, prompt);
  std::printf(
      "same prompt with 992 tokens from the pool: prefill_seconds %.4f, transfer wait %.4f\n",
      resp.prefill_seconds(), resp.transfer_seconds());
}

// The simulated backend (opaque KV bytes, per-token layout) goes the same way.
TEST(PrefillWorkerTest, SimBackendKvArrivesByteExact) {
  Node prefill("prefill-0", "", nullptr, 64, true), decode("decode-0", "", nullptr, 64, true);
  Node ref("ref", "", nullptr, 64, true);
  PrefillServer server(prefill, {});
  std::vector<int32_t> prompt;
  for (int i = 0; i < 50; ++i) prompt.push_back((i * 131 + 7) % 1000);
  const auto blocks = decode.Allocate(50);
  v1::PrefillResponse resp;
  const grpc::Status s = server.Call(Request("sim", prompt, decode.Describe(blocks), 7), &resp);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(static_cast<int32_t>(resp.first_token_id()), GreedyFirstToken(ref.engine(), prompt));
  engine::Sequence seq;
  ASSERT_TRUE(ref.engine().Prefill(seq, prompt, 0, 0).ok());
  const auto& g = ref.engine().cache().geometry();
  for (size_t i = 0; i < blocks.size(); ++i) {
    const auto valid =
        static_cast<size_t>(std::min<int64_t>(16, 50 - static_cast<int64_t>(i) * 16));
    for (int64_t l = 0; l < g.num_layers; ++l) {
      const auto got = decode.engine().cache().Layer(blocks[i], l);
      const auto want = ref.engine().cache().Layer(seq.blocks[i], l);
      const size_t bytes = valid * static_cast<size_t>(g.bytes_per_token_per_layer);
      ASSERT_TRUE(std::equal(got.begin(), got.begin() + bytes, want.begin()))
          << "block " << i << " layer " << l;
    }
  }
  ref.engine().Release(seq);
}

TEST(PrefillWorkerTest, ConcurrentRequestsAllSucceed) {
  InProcessMaster master;
  Node prefill("prefill-0", master.address()), decode("decode-0", ""), ref("ref", "");
  PrefillServer server(prefill, {});
  constexpr int kRequests = 6;
  std::vector<std::vector<int32_t>> prompts;
  std::vector<std::vector<engine::BlockId>> blocks;
  for (int i = 0; i < kRequests; ++i) {
    prompts.push_back(Prompt(20 + 7 * i, 20 + i));
    blocks.push_back(decode.Allocate(static_cast<int64_t>(prompts.back().size())));
  }
  std::vector<grpc::Status> status(kRequests);
  std::vector<v1::PrefillResponse> resp(kRequests);
  std::vector<std::thread> threads;
  for (int i = 0; i < kRequests; ++i) {
    threads.emplace_back([&, i] {
      auto req = Request("c" + std::to_string(i), prompts[static_cast<size_t>(i)],
                         decode.Describe(blocks[static_cast<size_t>(i)]), 5);
      status[static_cast<size_t>(i)] = server.Call(req, &resp[static_cast<size_t>(i)]);
    });
  }
  for (auto& t : threads) t.join();
  for (size_t i = 0; i < kRequests; ++i) {
    SCOPED_TRACE("request " + std::to_string(i));
    ASSERT_TRUE(status[i].ok()) << status[i].error_message();
    EXPECT_EQ(static_cast<int32_t>(resp[i].first_token_id()),
              GreedyFirstToken(ref.engine(), prompts[i]));
    ExpectKvMatches(decode, blocks[i], ref, prompts[i]);
  }
  server.worker().Shutdown();
  EXPECT_EQ(server.worker().Load().free_kv_blocks(), 64u);
}

TEST(PrefillWorkerTest, OptionsAreValidated) {
  PrefillWorkerOptions o;
  o.model_id = "m";
  EXPECT_TRUE(ValidatePrefillWorkerOptions(o).ok());
  o.chunk_tokens = 0;
  EXPECT_FALSE(ValidatePrefillWorkerOptions(o).ok());
  o.chunk_tokens = 8;
  o.max_queue = 0;
  EXPECT_FALSE(ValidatePrefillWorkerOptions(o).ok());
}

}  // namespace
}  // namespace kvc::prefill

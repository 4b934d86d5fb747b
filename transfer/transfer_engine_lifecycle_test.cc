// TransferEngine lifecycles: peer pool eviction, unregistering memory in use,
// options validation, engine destruction with work in flight.
#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "kvc/transfer/transfer_engine.h"
#include "transfer/testing/slice_gate.h"

namespace kvc::transfer {
namespace {

using std::chrono::milliseconds;

std::unique_ptr<TransferEngine> Make(SegmentDirectory* dir, const std::string& name,
                                     TransferEngineOptions options = {},
                                     FaultInjector* f = nullptr) {
  options.segment_name = name;
  options.backend = "tcp";
  auto e = CreateTransferEngine(options, dir, f);
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? std::move(*e) : nullptr;
}

// With max_peers = 1, opening a second segment evicts the idle first one (SIEVE);
// a busy peer is never evicted.
TEST(TransferLifecycleTest, PeerPoolEvictsIdlePeersOnly) {
  auto dir = MakeInProcessSegmentDirectory();
  test_util::SliceGate gate;
  TransferEngineOptions small;
  small.max_peers = 1;
  auto a = Make(dir.get(), "a", small, &gate);
  auto b = Make(dir.get(), "b");
  auto c = Make(dir.get(), "c");
  std::vector<char> mem(4096);
  ASSERT_TRUE(b->RegisterMemory(mem.data(), 2048, "cpu:0", true).ok());
  ASSERT_TRUE(a->RegisterMemory(mem.data() + 2048, 2048, "cpu:0", false).ok());
  ASSERT_TRUE(b->Publish().ok() && c->Publish().ok());
  auto hb = a->OpenSegment("b");
  ASSERT_TRUE(hb.ok());
  auto batch = a->AllocateBatch(1);
  std::thread submit([&] {
    EXPECT_TRUE(a->Submit(*batch, {{TransferOp::kWrite, mem.data() + 2048, *hb,
                                    reinterpret_cast<uint64_t>(mem.data()), 100}})
                    .ok());
  });
  gate.WaitHeld();
  EXPECT_EQ(a->OpenSegment("c").status().code(), absl::StatusCode::kResourceExhausted);
  gate.Open();
  submit.join();
  ASSERT_TRUE(a->Wait(*batch, milliseconds(20000)).ok());
  auto hc = a->OpenSegment("c");  // b is idle now: evicted
  ASSERT_TRUE(hc.ok()) << hc.status();
  EXPECT_EQ(a->BackendOf(*hb).status().code(), absl::StatusCode::kNotFound);
  auto hb2 = a->OpenSegment("b");  // re-opening by name works (evicting c)
  ASSERT_TRUE(hb2.ok());
  EXPECT_NE(*hb2, *hb);
}

// Unregistering a local buffer with an entry in flight waits, times out cleanly,
// and succeeds once the entry is done.
TEST(TransferLifecycleTest, UnregisterWaitsForEntriesInFlight) {
  auto dir = MakeInProcessSegmentDirectory();
  test_util::SliceGate gate;
  TransferEngineOptions options;
  options.unregister_wait_ms = 20;
  std::vector<char> local(1000, 'x'), remote(1000, 0);  // outlive the engines
  auto a = Make(dir.get(), "a", options, &gate);
  auto b = Make(dir.get(), "b");
  ASSERT_TRUE(a->RegisterMemory(local.data(), local.size(), "cpu:0", false).ok());
  ASSERT_TRUE(b->RegisterMemory(remote.data(), remote.size(), "cpu:0", true).ok());
  ASSERT_TRUE(b->Publish().ok());
  auto h = a->OpenSegment("b");
  ASSERT_TRUE(h.ok());
  auto batch = a->AllocateBatch(1);
  std::thread submit([&] {
    EXPECT_TRUE(a->Submit(*batch, {{TransferOp::kWrite, local.data(), *h,
                                    reinterpret_cast<uint64_t>(remote.data()), 1000}})
                    .ok());
  });
  gate.WaitHeld();
  EXPECT_EQ(a->UnregisterMemory(local.data()).code(), absl::StatusCode::kDeadlineExceeded);
  gate.Open();
  submit.join();
  ASSERT_TRUE(a->Wait(*batch, milliseconds(20000)).ok());
  EXPECT_EQ(remote[999], 'x');
  EXPECT_TRUE(a->UnregisterMemory(local.data()).ok());
  EXPECT_EQ(a->UnregisterMemory(local.data()).code(), absl::StatusCode::kNotFound);
}

// Invalid options are refused at creation, naming the field.
TEST(TransferLifecycleTest, InvalidOptionsNameTheField) {
  auto dir = MakeInProcessSegmentDirectory();
  TransferEngineOptions o;
  o.slice_bytes = 10;
  auto e = CreateTransferEngine(o, dir.get());
  EXPECT_NE(e.status().message().find("slice_bytes"), absl::string_view::npos);
  o = {};
  o.backend = "carrier-pigeon";
  EXPECT_NE(CreateTransferEngine(o, dir.get()).status().message().find("backend"),
            absl::string_view::npos);
  o = {};
  o.listen_address = "nowhere";
  EXPECT_NE(CreateTransferEngine(o, dir.get()).status().message().find("listen_address"),
            absl::string_view::npos);
  EXPECT_FALSE(CreateTransferEngine({}, nullptr).ok());
}

// Destroying an engine with entries queued on a dead path returns promptly.
TEST(TransferLifecycleTest, DestroyWithWorkInFlightIsClean) {
  auto dir = MakeInProcessSegmentDirectory();
  std::vector<char> local(1 << 20), remote(1 << 20);  // outlive the engines
  auto a = Make(dir.get(), "a");
  auto b = Make(dir.get(), "b");
  ASSERT_TRUE(a->RegisterMemory(local.data(), local.size(), "cpu:0", false).ok());
  ASSERT_TRUE(b->RegisterMemory(remote.data(), remote.size(), "cpu:0", true).ok());
  ASSERT_TRUE(b->Publish().ok());
  auto h = a->OpenSegment("b");
  ASSERT_TRUE(h.ok());
  auto batch = a->AllocateBatch(64);
  for (int i = 0; i < 64; ++i) {
    ASSERT_TRUE(a->Submit(*batch, {{TransferOp::kWrite, local.data(), *h,
                                    reinterpret_cast<uint64_t>(remote.data()), 1 << 20}})
                    .ok());
  }
  b.reset();  // target gone mid-batch
  // Must not hang or crash: the queued entries fail on the dead path and the
  // destructor joins. 10 s is far above a clean exit (milliseconds) and far
  // below a hang; the default transfer deadlines alone would allow more.
  const auto start = std::chrono::steady_clock::now();
  a.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

}  // namespace
}  // namespace kvc::transfer

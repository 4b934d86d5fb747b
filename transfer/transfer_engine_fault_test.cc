// TransferEngine failure handling: bad input, bounds, tokens, injected faults.
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "kvc/common/metrics.h"
#include "kvc/transfer/transfer_engine.h"
#include "transfer/testing/slice_gate.h"

namespace kvc::transfer {
namespace {

using std::chrono::milliseconds;

// Runs a scripted action for the slices it matches.
class ScriptedFaults : public FaultInjector {
 public:
  FaultDecision OnSlice(const SliceInfo& s) override {
    ++seen;
    if (s.attempt == 0 && (s.slice_index % every) == 0) return {action, delay};
    return {};
  }
  FaultAction action = FaultAction::kPass;
  milliseconds delay{0};
  uint64_t every = 1;
  std::atomic<int> seen{0};
};

struct Fixture {
  std::unique_ptr<SegmentDirectory> directory = MakeInProcessSegmentDirectory();
  // Buffers before engines: destroyed after them, so no late slice touches freed memory.
  std::vector<char> local = std::vector<char>(1 << 20, 'L');
  std::vector<char> remote = std::vector<char>(3 << 20, 'G');  // guard | region | guard
  char* region = remote.data() + (1 << 20);
  std::unique_ptr<TransferEngine> initiator, target;
  SegmentHandle handle = 0;

  void Start(FaultInjector* faults, TransferEngineOptions initiator_options = {},
             const std::string& target_token = "kvc-dev-token") {
    initiator_options.segment_name = "a";
    initiator_options.backend = "tcp";
    auto a = CreateTransferEngine(initiator_options, directory.get(), faults);
    ASSERT_TRUE(a.ok()) << a.status();
    initiator = std::move(*a);
    TransferEngineOptions t;
    t.segment_name = "b";
    t.cluster_token = target_token;
    auto b = CreateTransferEngine(t, directory.get());
    ASSERT_TRUE(b.ok()) << b.status();
    target = std::move(*b);
    ASSERT_TRUE(initiator->RegisterMemory(local.data(), local.size(), "cpu:0", false).ok());
    ASSERT_TRUE(target->RegisterMemory(region, 1 << 20, "cpu:0", true).ok());
    ASSERT_TRUE(target->Publish().ok());
    auto h = initiator->OpenSegment("b");
    ASSERT_TRUE(h.ok()) << h.status();
    handle = *h;
  }
  uint64_t Addr(int64_t offset_in_region) {
    return reinterpret_cast<uint64_t>(region) + offset_in_region;
  }
  bool GuardsIntact() {
    for (size_t i = 0; i < (1u << 20); ++i) {
      if (remote[i] != 'G' || remote[(2u << 20) + i] != 'G') return false;
    }
    return true;
  }
};

// A dropped connection mid-slice is retried on another connection; data exact.
TEST(TransferFaultTest, DroppedConnectionIsRetriedAndDataIsExact) {
  ScriptedFaults faults;
  faults.action = FaultAction::kDropConnection;
  faults.every = 3;
  Fixture f;
  TransferEngineOptions options;
  options.max_attempts = 20;  // a slice may be collateral of several drops
  f.Start(&faults, options);
  Counter& retries = MetricsRegistry::Default().GetCounter("kvc_transfer_slice_retries_total", "");
  const double retries_before = retries.Value();
  for (size_t i = 0; i < f.local.size(); ++i) f.local[i] = static_cast<char>(i * 7);
  auto b = f.initiator->AllocateBatch(1);
  ASSERT_TRUE(
      f.initiator
          ->Submit(*b, {{TransferOp::kWrite, f.local.data(), f.handle, f.Addr(0), f.local.size()}})
          .ok());
  ASSERT_TRUE(f.initiator->Wait(*b, milliseconds(20000)).ok());
  EXPECT_EQ(0, std::memcmp(f.region, f.local.data(), f.local.size()));
  EXPECT_TRUE(f.GuardsIntact());
  // 16 slices; each drop fails every slice on that connection, all retried elsewhere.
  EXPECT_GT(faults.seen.load(), 16 + 6);
  EXPECT_GE(retries.Value() - retries_before, 6);  // visible in the metrics too
}

// A slice failing on every attempt fails its entry with the reason; others complete.
TEST(TransferFaultTest, PersistentFailureFailsOnlyThatEntry) {
  class FailEntryOne : public FaultInjector {
    FaultDecision OnSlice(const SliceInfo& s) override {
      return s.entry_index == 1 ? FaultDecision{FaultAction::kFail} : FaultDecision{};
    }
  } faults;
  Fixture f;
  f.Start(&faults);
  auto b = f.initiator->AllocateBatch(3);
  std::vector<TransferRequest> reqs;
  for (int i = 0; i < 3; ++i) {
    reqs.push_back(
        {TransferOp::kWrite, f.local.data() + i * 1000, f.handle, f.Addr(i * 1000), 1000});
  }
  ASSERT_TRUE(f.initiator->Submit(*b, reqs).ok());
  Status s = f.initiator->Wait(*b, milliseconds(20000));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(s.message().find("entry 1"), absl::string_view::npos) << s;
  auto all = f.initiator->GetAllStatus(*b);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ((*all)[0].state, TransferState::kCompleted);
  EXPECT_EQ((*all)[1].state, TransferState::kFailed);
  EXPECT_NE((*all)[1].error.message().find("injected"), absl::string_view::npos);
  EXPECT_EQ((*all)[2].state, TransferState::kCompleted);
}

// Out-of-region remote ranges are refused at Submit, and by the target itself when
// the initiator's descriptor is stale; guard bytes around the region never change.
TEST(TransferFaultTest, OutOfBoundsIsRefusedAndTouchesNothing) {
  Fixture f;
  f.Start(nullptr);
  auto b = f.initiator->AllocateBatch(4);
  Status s = f.initiator->Submit(
      *b, {{TransferOp::kWrite, f.local.data(), f.handle, f.Addr((1 << 20) - 10), 11}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  s = f.initiator->Submit(*b, {{TransferOp::kWrite, f.local.data(), f.handle, f.Addr(-1), 10}});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  // Stale descriptor: the target unregisters; the initiator still believes it exists.
  ASSERT_TRUE(f.target->UnregisterMemory(f.region).ok());
  ASSERT_TRUE(
      f.initiator->Submit(*b, {{TransferOp::kWrite, f.local.data(), f.handle, f.Addr(0), 200000}})
          .ok());
  s = f.initiator->Wait(*b, milliseconds(20000));
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange) << s;
  for (size_t i = 0; i < (1u << 20); ++i) ASSERT_EQ(f.region[i], 'G') << i;
  EXPECT_TRUE(f.GuardsIntact());
  auto st = f.initiator->GetStatus(*b, 0);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->bytes_done, 0u);
}

// A wrong cluster token is refused: entries fail UNAUTHENTICATED, memory untouched.
TEST(TransferFaultTest, WrongTokenIsRefused) {
  Fixture f;
  f.Start(nullptr, {}, "another-token");
  auto b = f.initiator->AllocateBatch(1);
  ASSERT_TRUE(
      f.initiator->Submit(*b, {{TransferOp::kWrite, f.local.data(), f.handle, f.Addr(0), 1000}})
          .ok());
  Status s = f.initiator->Wait(*b, milliseconds(20000));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << s;
  EXPECT_EQ(f.region[0], 'G');
}

// Bad input: every misuse gets a clear error and changes nothing.
TEST(TransferFaultTest, BadInputGetsClearErrors) {
  test_util::SliceGate faults;
  Fixture f;
  f.Start(&faults);
  EXPECT_EQ(f.initiator->AllocateBatch(0).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(f.initiator->RegisterMemory(f.local.data() + 10, 5, "cpu:0", false).code(),
            absl::StatusCode::kInvalidArgument);  // overlap
  EXPECT_EQ(f.initiator->RegisterMemory(f.remote.data(), 5, "gpu0", false).code(),
            absl::StatusCode::kInvalidArgument);  // bad location
  auto b = f.initiator->AllocateBatch(1);
  ASSERT_TRUE(b.ok());
  std::vector<char> unregistered(100);
  EXPECT_EQ(
      f.initiator->Submit(*b, {{TransferOp::kWrite, unregistered.data(), f.handle, f.Addr(0), 100}})
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      f.initiator->Submit(*b, {{TransferOp::kWrite, f.local.data(), 999, f.Addr(0), 1}}).code(),
      absl::StatusCode::kInvalidArgument);
  TransferRequest ok{TransferOp::kWrite, f.local.data(), f.handle, f.Addr(0), 100};
  EXPECT_EQ(f.initiator->Submit(*b, {ok, ok}).code(), absl::StatusCode::kResourceExhausted);
  auto none = f.initiator->GetAllStatus(*b);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());  // nothing started by the refused submissions
  std::thread submitter([&] { EXPECT_TRUE(f.initiator->Submit(*b, {ok}).ok()); });
  faults.WaitHeld();  // the entry is pending, held in the injector
  EXPECT_EQ(f.initiator->FreeBatch(*b).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(f.initiator->CloseSegment(f.handle).code(), absl::StatusCode::kFailedPrecondition);
  faults.Open();
  submitter.join();
  ASSERT_TRUE(f.initiator->Wait(*b, milliseconds(20000)).ok());
  EXPECT_TRUE(f.initiator->FreeBatch(*b).ok());
  EXPECT_EQ(f.initiator->FreeBatch(*b).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(f.initiator->OpenSegment("nobody").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace kvc::transfer

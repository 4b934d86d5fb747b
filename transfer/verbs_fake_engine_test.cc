// Two real transfer engines in one process talking over the verbs backend, with
// a fake RDMA fabric at the device seam (transfer/testing/verbs_fake.h) instead
// of NICs: the handshake (over the real TCP target, token checked), NIC choice
// from the topology matrix, slicing, completions, path failover, deadlines and
// the rkey checks all run for real; only the NIC's DMA is a memcpy.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <thread>

#include "kvc/common/metrics.h"
#include "kvc/transfer/transfer_engine.h"
#include "transfer/internal/socket_util.h"
#include "transfer/internal/verbs_device.h"
#include "transfer/testing/verbs_fake.h"

namespace kvc::transfer {
namespace {

using std::chrono::milliseconds;

class VerbsFakeEngineTest : public ::testing::Test {
 protected:
  void SetUp() override { internal::SetVerbsProviderForTesting(&fabric_); }
  void TearDown() override {
    initiator_.reset();
    target_.reset();
    internal::SetVerbsProviderForTesting(nullptr);
  }

  TransferEngineOptions Options(const std::string& topology) {
    TransferEngineOptions o;
    o.backend = "verbs";
    o.slice_bytes = 4096;
    o.peer_timeout_ms = 300;
    o.path_down_ms = 100;
    o.topology_json = topology;
    return o;
  }

  // Starts both engines; the target exposes `target_memory_` (remote-accessible).
  void Start(const std::string& initiator_topology = "",
             const std::string& initiator_token = "kvc-dev-token") {
    auto target = CreateTransferEngine(Options(""), directory_.get());
    ASSERT_TRUE(target.ok()) << target.status();
    target_ = std::move(*target);
    ASSERT_TRUE(
        target_->RegisterMemory(target_memory_.data(), target_memory_.size(), "cpu:0", true).ok());
    ASSERT_TRUE(target_->Publish().ok());
    TransferEngineOptions o = Options(initiator_topology);
    o.listen_address = "";
    o.cluster_token = initiator_token;
    auto initiator = CreateTransferEngine(o, directory_.get());
    ASSERT_TRUE(initiator.ok()) << initiator.status();
    initiator_ = std::move(*initiator);
    ASSERT_TRUE(initiator_->RegisterMemory(local_.data(), local_.size(), "cpu:0", false).ok());
    auto handle = initiator_->OpenSegment(target_->LocalSegment().name);
    ASSERT_TRUE(handle.ok()) << handle.status();
    handle_ = *handle;
  }

  uint64_t Remote(uint64_t offset) {
    return reinterpret_cast<uint64_t>(target_memory_.data()) + offset;
  }

  Status Run(TransferOp op, uint64_t local_offset, uint64_t remote_offset, uint64_t length) {
    auto batch = initiator_->AllocateBatch(1);
    if (!batch.ok()) return batch.status();
    Status s = initiator_->Submit(
        *batch, {{op, local_.data() + local_offset, handle_, Remote(remote_offset), length}});
    if (s.ok()) s = initiator_->Wait(*batch, milliseconds(10000));
    EXPECT_TRUE(initiator_->FreeBatch(*batch).ok());
    return s;
  }

  testing::FakeVerbsFabric fabric_{{"fake0", "fake1"}};
  std::unique_ptr<SegmentDirectory> directory_ = MakeInProcessSegmentDirectory();
  std::vector<char> target_memory_ = std::vector<char>(8 << 20);
  std::vector<char> local_ = std::vector<char>(16 << 20);
  std::unique_ptr<TransferEngine> target_;
  std::unique_ptr<TransferEngine> initiator_;
  SegmentHandle handle_ = 0;
};

void Fill(char* p, size_t n, uint32_t seed) {
  std::mt19937 random(seed);
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<char>(random());
}

// Byte-exact writes and reads for awkward sizes and offsets; slices spread
// over both equally preferred NICs.
TEST_F(VerbsFakeEngineTest, ReadAndWriteRoundTripsAreByteExact) {
  Start(R"({"cpu:0":{"preferred":["fake0","fake1"],"secondary":[]}})");
  EXPECT_EQ(*initiator_->BackendOf(handle_), "verbs");
  EXPECT_EQ(target_->LocalSegment().verbs_nics, (std::vector<std::string>{"fake0", "fake1"}));
  uint32_t seed = 1;
  for (uint64_t length : {1ull, 4095ull, 4096ull, 4097ull, 65537ull, (3ull << 20) + 7}) {
    for (uint64_t offset : {0ull, 13ull}) {
      SCOPED_TRACE(::testing::Message() << "length " << length << " offset " << offset);
      Fill(local_.data() + offset, length, seed++);
      ASSERT_TRUE(Run(TransferOp::kWrite, offset, offset + 5, length).ok());
      EXPECT_EQ(std::memcmp(target_memory_.data() + offset + 5, local_.data() + offset, length), 0);
      const uint64_t back = 8 << 20;
      ASSERT_TRUE(Run(TransferOp::kRead, back + offset, offset + 5, length).ok());
      EXPECT_EQ(std::memcmp(local_.data() + back + offset, local_.data() + offset, length), 0);
    }
  }
  EXPECT_GT(fabric_.completed("fake0"), 100u);
  EXPECT_GT(fabric_.completed("fake1"), 100u);
  EXPECT_GE(fabric_.busy_qps(), 4u);  // both QPs of each NIC carried slices
}

// The topology matrix decides: memory at cpu:0 prefers fake1 only.
TEST_F(VerbsFakeEngineTest, PreferredNicCarriesTheSlices) {
  Start(R"({"cpu:0":{"preferred":["fake1"],"secondary":["fake0"]}})");
  Fill(local_.data(), 1 << 20, 7);
  ASSERT_TRUE(Run(TransferOp::kWrite, 0, 0, 1 << 20).ok());
  EXPECT_EQ(std::memcmp(target_memory_.data(), local_.data(), 1 << 20), 0);
  EXPECT_EQ(fabric_.completed("fake1"), 256u);
  EXPECT_EQ(fabric_.completed("fake0"), 0u);
}

// A broken preferred NIC: its slices fail, the path goes down, the retries land
// on the secondary NIC and the data is still exact.
TEST_F(VerbsFakeEngineTest, BrokenNicFailsOverToTheSecondary) {
  Start(R"({"cpu:0":{"preferred":["fake1"],"secondary":["fake0"]}})");
  Counter& failures =
      MetricsRegistry::Default().GetCounter("kvc_transfer_verbs_path_failures_total", "");
  const double failures_before = failures.Value();
  Fill(local_.data(), 1 << 20, 8);
  ASSERT_TRUE(Run(TransferOp::kWrite, 0, 0, 4096).ok());  // paths to fake1 are up
  fabric_.SetBroken("fake1", true);
  ASSERT_TRUE(Run(TransferOp::kWrite, 0, 0, 1 << 20).ok());
  EXPECT_EQ(std::memcmp(target_memory_.data(), local_.data(), 1 << 20), 0);
  EXPECT_GE(fabric_.completed("fake0"), 200u);
  EXPECT_GT(failures.Value(), failures_before);
}

// Every NIC broken: the entry fails with UNAVAILABLE naming the verbs path,
// quickly; once the NIC heals (after path_down_ms) the engine works again.
TEST_F(VerbsFakeEngineTest, AllPathsDownFailsTheEntryAndRecovers) {
  Start();
  fabric_.SetBroken("fake0", true);
  fabric_.SetBroken("fake1", true);
  const auto start = std::chrono::steady_clock::now();
  Status s = Run(TransferOp::kWrite, 0, 0, 64 << 10);
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(3000));
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find("verbs path"), absl::string_view::npos) << s;
  fabric_.SetBroken("fake0", false);
  fabric_.SetBroken("fake1", false);
  // The failed paths are skipped for path_down_ms (100 ms); after that a write
  // goes through again. Retry until it does, within a bound well above that.
  Fill(local_.data(), 64 << 10, 9);
  const auto healed_by = std::chrono::steady_clock::now() + milliseconds(3000);
  Status healed = Run(TransferOp::kWrite, 0, 0, 64 << 10);
  while (!healed.ok() && std::chrono::steady_clock::now() < healed_by) {
    std::this_thread::sleep_for(milliseconds(20));
    healed = Run(TransferOp::kWrite, 0, 0, 64 << 10);
  }
  ASSERT_TRUE(healed.ok()) << healed;
  EXPECT_EQ(std::memcmp(target_memory_.data(), local_.data(), 64 << 10), 0);
}

// A peer that stops answering (no completions at all) fails the entry within
// the deadlines (peer_timeout_ms per attempt), never hangs.
TEST_F(VerbsFakeEngineTest, SilentPeerFailsWithinTheTimeout) {
  Start();
  ASSERT_TRUE(Run(TransferOp::kWrite, 0, 0, 4096).ok());
  fabric_.SetSilent("fake0", true);
  fabric_.SetSilent("fake1", true);
  const auto start = std::chrono::steady_clock::now();
  Status s = Run(TransferOp::kRead, 0, 0, 16 << 10);
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find("no completion within 300 ms"), absl::string_view::npos) << s;
  EXPECT_LT(took, milliseconds(3 * 2 * 300 + 1000));  // max_attempts × (deadline + flush)
}

// The target's NIC enforces the registration: after the target unregisters
// the region, a write with the old rkey is refused (OUT_OF_RANGE, not retried)
// and the memory is untouched.
TEST_F(VerbsFakeEngineTest, UnregisteredRegionIsRefusedByTheNic) {
  Start();
  std::memset(target_memory_.data(), 0x5A, 1 << 16);
  ASSERT_TRUE(target_->UnregisterMemory(target_memory_.data()).ok());
  Fill(local_.data(), 1 << 16, 10);
  Status s = Run(TransferOp::kWrite, 0, 0, 1 << 16);  // the initiator's descriptor is stale
  EXPECT_EQ(s.code(), absl::StatusCode::kOutOfRange) << s;
  EXPECT_NE(s.message().find("refused the access"), absl::string_view::npos) << s;
  for (int i = 0; i < (1 << 16); ++i) ASSERT_EQ(target_memory_[i], 0x5A) << i;
}

// The handshake travels on the token-checked TCP connection: a wrong token is
// refused and the entry fails UNAUTHENTICATED (final).
TEST_F(VerbsFakeEngineTest, WrongTokenIsRefused) {
  Start("", "wrong-token");
  Status s = Run(TransferOp::kWrite, 0, 0, 4096);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << s;
}

// A target that goes away: in-flight and later entries fail within the timeout,
// and the target's QPs are gone once the initiator closes the segment.
TEST_F(VerbsFakeEngineTest, DeadTargetFailsEntriesAndQpsAreReleased) {
  Start();
  ASSERT_TRUE(Run(TransferOp::kWrite, 0, 0, 64 << 10).ok());
  EXPECT_GT(fabric_.live_qps(), 0u);
  target_.reset();
  const auto start = std::chrono::steady_clock::now();
  Status s = Run(TransferOp::kWrite, 0, 0, 64 << 10);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(3000));
  ASSERT_TRUE(initiator_->CloseSegment(handle_).ok());
  EXPECT_EQ(fabric_.live_qps(), 0u);
}

// A target that accepts TCP but never answers the hello: the handshake times out
// once (peer_timeout_ms), every unconnected path goes down together, and the
// entry fails UNAVAILABLE — one timeout, not one per path.
TEST_F(VerbsFakeEngineTest, UnresponsiveTargetFailsAfterOneHandshakeTimeout) {
  int port = 0;
  auto listener = internal::ListenTcp("127.0.0.1:0", &port);
  ASSERT_TRUE(listener.ok()) << listener.status();
  std::vector<int> accepted;
  std::thread acceptor([&] {
    const int fd = accept(*listener, nullptr, nullptr);
    if (fd >= 0) accepted.push_back(fd);  // held open, never answered
  });
  SegmentDescriptor mute;
  mute.name = "mute";
  mute.tcp_endpoints = {"127.0.0.1:" + std::to_string(port)};
  mute.verbs_nics = {"fake0", "fake1"};
  mute.regions = {{0x10000, 1 << 20, "cpu:0", "", {{"fake0", 1}, {"fake1", 2}}}};
  ASSERT_TRUE(directory_->Publish(mute).ok());
  TransferEngineOptions o = Options("");
  o.listen_address = "";
  auto initiator = CreateTransferEngine(o, directory_.get());
  ASSERT_TRUE(initiator.ok()) << initiator.status();
  initiator_ = std::move(*initiator);
  ASSERT_TRUE(initiator_->RegisterMemory(local_.data(), local_.size(), "cpu:0", false).ok());
  auto handle = initiator_->OpenSegment("mute");
  ASSERT_TRUE(handle.ok()) << handle.status();
  auto batch = initiator_->AllocateBatch(1);
  ASSERT_TRUE(batch.ok());
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(
      initiator_->Submit(*batch, {{TransferOp::kWrite, local_.data(), *handle, 0x10000, 64 << 10}})
          .ok());
  Status s = initiator_->Wait(*batch, milliseconds(5000));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_LT(took, milliseconds(900)) << s;  // one 300 ms timeout; 8 paths × 300 ms before
  ASSERT_TRUE(initiator_->FreeBatch(*batch).ok());
  initiator_.reset();
  acceptor.join();
  for (int fd : accepted) close(fd);
  close(*listener);
}

// Re-opening after the target registered a new region picks up its rkeys.
TEST_F(VerbsFakeEngineTest, ReopenSeesNewRegions) {
  Start();
  std::vector<char> more(1 << 16);
  ASSERT_TRUE(target_->RegisterMemory(more.data(), more.size(), "cpu:0", true).ok());
  ASSERT_TRUE(target_->Publish().ok());
  auto handle = initiator_->OpenSegment(target_->LocalSegment().name);
  ASSERT_TRUE(handle.ok()) << handle.status();
  Fill(local_.data(), 1 << 16, 11);
  auto batch = initiator_->AllocateBatch(1);
  ASSERT_TRUE(batch.ok());
  ASSERT_TRUE(initiator_
                  ->Submit(*batch, {{TransferOp::kWrite, local_.data(), *handle,
                                     reinterpret_cast<uint64_t>(more.data()), more.size()}})
                  .ok());
  ASSERT_TRUE(initiator_->Wait(*batch, milliseconds(5000)).ok());
  ASSERT_TRUE(initiator_->FreeBatch(*batch).ok());
  EXPECT_EQ(std::memcmp(more.data(), local_.data(), more.size()), 0);
  ASSERT_TRUE(target_->UnregisterMemory(more.data()).ok());
}

// Many threads × many batches at once, all verified.
TEST_F(VerbsFakeEngineTest, ConcurrentBatchesAreExact) {
  Start();
  constexpr int kThreads = 4;
  constexpr uint64_t kSpan = 1 << 20;
  Fill(local_.data(), kThreads * kSpan, 12);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 5; ++round) {
        auto batch = initiator_->AllocateBatch(8);
        std::vector<TransferRequest> requests;
        for (int i = 0; i < 8; ++i) {
          const uint64_t off = t * kSpan + i * (kSpan / 8);
          requests.push_back(
              {TransferOp::kWrite, local_.data() + off, handle_, Remote(off), kSpan / 8});
        }
        if (!batch.ok() || !initiator_->Submit(*batch, requests).ok() ||
            !initiator_->Wait(*batch, milliseconds(10000)).ok()) {
          ++failures;
        }
        if (batch.ok()) (void)initiator_->FreeBatch(*batch);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(std::memcmp(target_memory_.data(), local_.data(), kThreads * kSpan), 0);
}

// backend auto: with the preflight passed (registration and QP creation work)
// a peer on another host (another host id) gets verbs.
TEST_F(VerbsFakeEngineTest, AutoUsesVerbsAfterThePreflightPassed) {
  TransferEngineOptions o = Options("");
  o.backend = "auto";
  o.host_id = "host-a";
  auto target = CreateTransferEngine(o, directory_.get());
  ASSERT_TRUE(target.ok()) << target.status();
  target_ = std::move(*target);
  ASSERT_TRUE(
      target_->RegisterMemory(target_memory_.data(), target_memory_.size(), "cpu:0", true).ok());
  ASSERT_TRUE(target_->Publish().ok());
  EXPECT_EQ(target_->LocalSegment().verbs_nics, (std::vector<std::string>{"fake0", "fake1"}));
  o.host_id = "host-b";
  o.listen_address = "";
  auto initiator = CreateTransferEngine(o, directory_.get());
  ASSERT_TRUE(initiator.ok()) << initiator.status();
  initiator_ = std::move(*initiator);
  ASSERT_TRUE(initiator_->RegisterMemory(local_.data(), local_.size(), "cpu:0", false).ok());
  auto handle = initiator_->OpenSegment(target_->LocalSegment().name);
  ASSERT_TRUE(handle.ok()) << handle.status();
  handle_ = *handle;
  EXPECT_EQ(*initiator_->BackendOf(handle_), "verbs");
  Fill(local_.data(), 1 << 16, 3);
  ASSERT_TRUE(Run(TransferOp::kWrite, 0, 0, 1 << 16).ok());
  EXPECT_EQ(std::memcmp(target_memory_.data(), local_.data(), 1 << 16), 0);
}

// backend auto: a NIC that opens but cannot register memory fails the preflight,
// so the engine publishes no verbs NICs, registers nothing on them and peers get TCP.
TEST_F(VerbsFakeEngineTest, AutoSkipsVerbsWhenThePreflightFails) {
  fabric_.SetRegistrationFails("fake1", true);
  TransferEngineOptions o = Options("");
  o.backend = "auto";
  o.host_id = "host-a";
  auto target = CreateTransferEngine(o, directory_.get());
  ASSERT_TRUE(target.ok()) << target.status();
  target_ = std::move(*target);
  ASSERT_TRUE(
      target_->RegisterMemory(target_memory_.data(), target_memory_.size(), "cpu:0", true).ok());
  ASSERT_TRUE(target_->Publish().ok());
  EXPECT_TRUE(target_->LocalSegment().verbs_nics.empty());
  o.host_id = "host-b";
  o.listen_address = "";
  fabric_.SetRegistrationFails("fake1", false);  // the initiator's NICs are fine
  auto initiator = CreateTransferEngine(o, directory_.get());
  ASSERT_TRUE(initiator.ok()) << initiator.status();
  initiator_ = std::move(*initiator);
  ASSERT_TRUE(initiator_->RegisterMemory(local_.data(), local_.size(), "cpu:0", false).ok());
  auto handle = initiator_->OpenSegment(target_->LocalSegment().name);
  ASSERT_TRUE(handle.ok()) << handle.status();
  EXPECT_EQ(*initiator_->BackendOf(*handle), "tcp");
}

}  // namespace
}  // namespace kvc::transfer

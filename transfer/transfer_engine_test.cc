// TransferEngine against real targets in this process: real loopback TCP
// connections and real cross-memory-attach copies (the target is this process).
#include "kvc/transfer/transfer_engine.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <random>
#include <thread>
#include <vector>

namespace kvc::transfer {
namespace {

using std::chrono::milliseconds;
constexpr uint64_t kSlice = 64 << 10;
constexpr uint64_t kShmSlice = 256 << 10;

struct Pair {
  std::unique_ptr<SegmentDirectory> directory = MakeInProcessSegmentDirectory();
  // Buffers are declared before the engines so they are destroyed after them:
  // a target may still serve a late (e.g. retried) slice until its engine stops.
  std::vector<char> local;
  std::vector<char> remote;
  std::unique_ptr<TransferEngine> initiator;
  std::unique_ptr<TransferEngine> target;
  SegmentHandle handle = 0;

  // local/remote buffers of `bytes`; target registers `remote` (remote-accessible).
  void Start(const std::string& backend, uint64_t bytes, FaultInjector* faults = nullptr,
             TransferEngineOptions options = {}) {
    options.backend = backend;
    options.segment_name = "initiator";
    auto a = CreateTransferEngine(options, directory.get(), faults);
    ASSERT_TRUE(a.ok()) << a.status();
    initiator = std::move(*a);
    options.segment_name = "target";
    auto b = CreateTransferEngine(options, directory.get());
    ASSERT_TRUE(b.ok()) << b.status();
    target = std::move(*b);
    local.assign(bytes, 0);
    remote.assign(bytes, 0);
    ASSERT_TRUE(initiator->RegisterMemory(local.data(), bytes, "cpu:0", false).ok());
    ASSERT_TRUE(target->RegisterMemory(remote.data(), bytes, "cpu:0", true).ok());
    ASSERT_TRUE(target->Publish().ok());
    auto h = initiator->OpenSegment("target");
    ASSERT_TRUE(h.ok()) << h.status();
    handle = *h;
  }
  uint64_t RemoteAddr(uint64_t offset) {
    return reinterpret_cast<uint64_t>(remote.data()) + offset;
  }

  Status Run(TransferOp op, uint64_t local_off, uint64_t remote_off, uint64_t len) {
    auto batch = initiator->AllocateBatch(1);
    if (!batch.ok()) return batch.status();
    KVC_RETURN_IF_ERROR(initiator->Submit(
        *batch, {{op, local.data() + local_off, handle, RemoteAddr(remote_off), len}}));
    Status s = initiator->Wait(*batch, milliseconds(20000));
    KVC_RETURN_IF_ERROR(initiator->FreeBatch(*batch));
    return s;
  }
};

void Fill(std::vector<char>& v, uint32_t seed) {
  std::mt19937 rng(seed);
  for (char& c : v) c = static_cast<char>(rng());
}

class RoundTripTest : public ::testing::TestWithParam<std::string> {};

// Writes then reads back edge sizes (1 byte, one slice, slice+1, unaligned) byte-exactly.
TEST_P(RoundTripTest, EdgeSizesAreByteExact) {
  Pair p;
  p.Start(GetParam(), 8 * kSlice + 100);
  auto backend = p.initiator->BackendOf(p.handle);
  ASSERT_TRUE(backend.ok());
  EXPECT_EQ(*backend, GetParam());
  // kSlice: the TCP slice; kShmSlice: the shm slice (both defaults).
  for (uint64_t len :
       {uint64_t{1}, kSlice, kSlice + 1, kShmSlice, kShmSlice + 1, 3 * kSlice + 17}) {
    for (uint64_t off : {uint64_t{0}, uint64_t{3}}) {
      Fill(p.local, static_cast<uint32_t>(len + off));
      std::vector<char> sent(p.local.begin() + off, p.local.begin() + off + len);
      ASSERT_TRUE(p.Run(TransferOp::kWrite, off, off + 5, len).ok());
      EXPECT_EQ(0, std::memcmp(p.remote.data() + off + 5, sent.data(), len)) << len;
      std::fill(p.local.begin(), p.local.end(), 0);
      ASSERT_TRUE(p.Run(TransferOp::kRead, off + 1, off + 5, len).ok());
      EXPECT_EQ(0, std::memcmp(p.local.data() + off + 1, sent.data(), len)) << len;
    }
  }
}

// Random sizes and offsets, many entries in one batch, all byte-exact.
TEST_P(RoundTripTest, RandomEntriesInOneBatch) {
  Pair p;
  const uint64_t bytes = 8 << 20;
  p.Start(GetParam(), bytes);
  Fill(p.local, 7);
  std::mt19937_64 rng(11);
  std::vector<TransferRequest> requests;
  const uint64_t chunk = bytes / 32;
  for (uint64_t i = 0; i < 32; ++i) {  // disjoint chunks, random length and offset inside
    const uint64_t len = 1 + rng() % (chunk - 1);
    const uint64_t off = i * chunk + rng() % (chunk - len);
    requests.push_back(
        {TransferOp::kWrite, p.local.data() + off, p.handle, p.RemoteAddr(off), len});
  }
  auto batch = p.initiator->AllocateBatch(requests.size());
  ASSERT_TRUE(batch.ok());
  ASSERT_TRUE(p.initiator->Submit(*batch, requests).ok());
  ASSERT_TRUE(p.initiator->Wait(*batch, milliseconds(20000)).ok());
  auto all = p.initiator->GetAllStatus(*batch);
  ASSERT_TRUE(all.ok());
  for (size_t i = 0; i < requests.size(); ++i) {
    EXPECT_EQ((*all)[i].state, TransferState::kCompleted);
    EXPECT_EQ((*all)[i].bytes_done, requests[i].length);
    const uint64_t off = static_cast<char*>(requests[i].local) - p.local.data();
    EXPECT_EQ(0, std::memcmp(p.remote.data() + off, p.local.data() + off, requests[i].length));
  }
  EXPECT_TRUE(p.initiator->FreeBatch(*batch).ok());
}

// 8 threads × 20 batches each, every batch verified by a read-back.
TEST_P(RoundTripTest, ManyThreadsManyBatches) {
  Pair p;
  constexpr int kThreads = 8;
  const uint64_t per_thread = 256 << 10;
  p.Start(GetParam(), kThreads * per_thread * 2);
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      char* src = p.local.data() + t * per_thread * 2;
      char* back = src + per_thread;
      const uint64_t raddr = p.RemoteAddr(t * per_thread * 2);
      for (int round = 0; round < 20; ++round) {
        for (uint64_t i = 0; i < per_thread; ++i) src[i] = static_cast<char>(i * 31 + t + round);
        auto b = p.initiator->AllocateBatch(2);
        if (!b.ok() ||
            !p.initiator->Submit(*b, {{TransferOp::kWrite, src, p.handle, raddr, per_thread}})
                 .ok() ||
            !p.initiator->Wait(*b, milliseconds(20000)).ok() ||
            !p.initiator->Submit(*b, {{TransferOp::kRead, back, p.handle, raddr, per_thread}})
                 .ok() ||
            !p.initiator->Wait(*b, milliseconds(20000)).ok() || !p.initiator->FreeBatch(*b).ok() ||
            std::memcmp(src, back, per_thread) != 0) {
          ++failures;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, RoundTripTest, ::testing::Values("tcp", "shm"));

}  // namespace
}  // namespace kvc::transfer

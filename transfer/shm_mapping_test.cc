// The intra-host shared-mapping path between two real engines in this process:
// regions allocated with AllocateSharedMemory are mapped by the peer (visible in
// /proc/self/maps) and copied byte-exactly; other regions still work through
// cross-memory attach; a wrong token is refused; and UnregisterMemory, on both
// the shared-mapping path and TCP, stops a peer that keeps hammering the region.
#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kvc/transfer/transfer_engine.h"

namespace kvc::transfer {
namespace {

using std::chrono::milliseconds;

// Mappings of the engines' memfds in this process (target's and peers').
int SharedMappings() {
  std::ifstream maps("/proc/self/maps");
  int count = 0;
  for (std::string line; std::getline(maps, line);) {
    if (line.find("memfd:kvc-transfer ") != std::string::npos ||
        line.find("memfd:kvc-transfer (deleted)") != std::string::npos) {
      ++count;
    }
  }
  return count;
}

struct SharedPair {
  std::unique_ptr<SegmentDirectory> directory = MakeInProcessSegmentDirectory();
  std::vector<char> local;
  std::unique_ptr<TransferEngine> initiator, target;
  char* remote = nullptr;
  uint64_t bytes = 0;
  SegmentHandle handle = 0;

  void Start(const std::string& backend, uint64_t n, TransferEngineOptions options = {},
             const std::string& initiator_token = "kvc-dev-token") {
    bytes = n;
    options.backend = backend;
    options.segment_name = "target";
    auto b = CreateTransferEngine(options, directory.get());
    ASSERT_TRUE(b.ok()) << b.status();
    target = std::move(*b);
    options.segment_name = "initiator";
    options.cluster_token = initiator_token;
    auto a = CreateTransferEngine(options, directory.get());
    ASSERT_TRUE(a.ok()) << a.status();
    initiator = std::move(*a);
    auto memory = target->AllocateSharedMemory(n);
    ASSERT_TRUE(memory.ok()) << memory.status();
    remote = static_cast<char*>(*memory);
    local.assign(n, 0);
    ASSERT_TRUE(initiator->RegisterMemory(local.data(), n, "cpu:0", false).ok());
    ASSERT_TRUE(target->RegisterMemory(remote, n, "cpu:0", true).ok());
    ASSERT_TRUE(target->Publish().ok());
    auto h = initiator->OpenSegment("target");
    handle = h.ok() ? *h : 0;
    open_status = h.status();
  }
  ~SharedPair() {
    initiator.reset();
    target.reset();  // frees the shared memory
  }
  Status Run(TransferOp op, uint64_t local_off, uint64_t remote_off, uint64_t len) {
    KVC_ASSIGN_OR_RETURN(BatchId b, initiator->AllocateBatch(1));
    KVC_RETURN_IF_ERROR(
        initiator->Submit(b, {{op, local.data() + local_off, handle,
                               reinterpret_cast<uint64_t>(remote) + remote_off, len}}));
    Status s = initiator->Wait(b, milliseconds(20000));
    KVC_RETURN_IF_ERROR(initiator->FreeBatch(b));
    return s;
  }
  Status open_status;
};

void Fill(char* p, uint64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  for (uint64_t i = 0; i < n; ++i) p[i] = static_cast<char>(rng());
}

TEST(TransferShmMappingTest, SharedRegionIsMappedAndByteExact) {
  SharedPair p;
  ASSERT_NO_FATAL_FAILURE(p.Start("shm", 4 << 20));
  ASSERT_TRUE(p.open_status.ok()) << p.open_status;
  const int before = SharedMappings();
  for (uint64_t len : {uint64_t{1}, uint64_t{4096}, uint64_t{(256 << 10) + 1}, uint64_t{3 << 20}}) {
    for (uint64_t off : {uint64_t{0}, uint64_t{7}}) {
      Fill(p.local.data() + off, len, static_cast<uint32_t>(len + off));
      std::vector<char> sent(p.local.begin() + off, p.local.begin() + off + len);
      ASSERT_TRUE(p.Run(TransferOp::kWrite, off, off + 5, len).ok());
      EXPECT_EQ(0, std::memcmp(p.remote + off + 5, sent.data(), len)) << len;
      std::fill(p.local.begin(), p.local.end(), 0);
      ASSERT_TRUE(p.Run(TransferOp::kRead, off + 1, off + 5, len).ok());
      EXPECT_EQ(0, std::memcmp(p.local.data() + off + 1, sent.data(), len)) << len;
    }
  }
  EXPECT_EQ(SharedMappings(), before + 1) << "the peer maps the region once";
}

// A sub-range of an allocation is not exported (that would hand out more than
// was registered): cross-memory attach serves it, byte-exactly.
TEST(TransferShmMappingTest, PartOfAnAllocationUsesCrossMemoryAttach) {
  SharedPair p;
  ASSERT_NO_FATAL_FAILURE(p.Start("shm", 1 << 20));
  ASSERT_TRUE(p.target->UnregisterMemory(p.remote).ok());
  ASSERT_TRUE(p.target->RegisterMemory(p.remote + 4096, 8192, "cpu:0", true).ok());
  ASSERT_TRUE(p.target->Publish().ok());
  ASSERT_TRUE(p.initiator->OpenSegment("target").ok());
  const int before = SharedMappings();
  Fill(p.local.data(), 8192, 3);
  ASSERT_TRUE(p.Run(TransferOp::kWrite, 0, 4096, 8192).ok());
  EXPECT_EQ(0, std::memcmp(p.remote + 4096, p.local.data(), 8192));
  EXPECT_EQ(SharedMappings(), before) << "nothing was mapped";
  EXPECT_EQ(p.Run(TransferOp::kWrite, 0, 0, 4096).code(), absl::StatusCode::kInvalidArgument);
}

// The export socket is reached on the first copy; a wrong token fails the entry
// (final, no retry) and nothing is written.
TEST(TransferShmMappingTest, WrongTokenIsRefusedOnTheExportSocket) {
  SharedPair p;
  ASSERT_NO_FATAL_FAILURE(p.Start("shm", 1 << 20, {}, "not-the-token"));
  ASSERT_TRUE(p.open_status.ok()) << p.open_status;
  std::fill(p.local.begin(), p.local.end(), 'w');
  Status s = p.Run(TransferOp::kWrite, 0, 0, 4096);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << s;
  EXPECT_EQ(p.remote[0], 0);
}

TEST(TransferShmMappingTest, FreeSharedMemoryRefusesWhileRegistered) {
  SharedPair p;
  ASSERT_NO_FATAL_FAILURE(p.Start("shm", 1 << 20));
  EXPECT_EQ(p.target->FreeSharedMemory(p.remote).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(p.target->FreeSharedMemory(p.remote + 1).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(p.target->AllocateSharedMemory(0).status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(p.target->UnregisterMemory(p.remote).ok());
  EXPECT_TRUE(p.target->FreeSharedMemory(p.remote).ok());
  p.remote = nullptr;
}

class TransferUnregisterUnderLoadTest : public ::testing::TestWithParam<std::string> {};

// Peer threads keep writing into the region while the target unregisters it.
// Once UnregisterMemory returns OK, no byte of the region changes any more (the
// target fills it with a guard and checks it while the peer keeps trying), the
// peer's entries fail, and the memory can be freed at once.
TEST_P(TransferUnregisterUnderLoadTest, NoAccessAfterUnregisterReturns) {
  SharedPair p;
  ASSERT_NO_FATAL_FAILURE(p.Start(GetParam(), 4 << 20));
  ASSERT_TRUE(p.open_status.ok()) << p.open_status;
  std::fill(p.local.begin(), p.local.end(), 'w');
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> hammers;
  for (int t = 0; t < 2; ++t) {
    hammers.emplace_back([&, t] {
      const uint64_t part = p.bytes / 2;
      while (!stop) {
        (p.Run(TransferOp::kWrite, t * part, t * part, part).ok() ? ok : failed)++;
      }
    });
  }
  while (ok < 4) std::this_thread::sleep_for(milliseconds(1));
  Status s = p.target->UnregisterMemory(p.remote);
  ASSERT_TRUE(s.ok()) << s;
  std::memset(p.remote, 'G', p.bytes);
  const int failed_before = failed;
  while (failed < failed_before + 4) std::this_thread::sleep_for(milliseconds(1));
  stop = true;
  for (auto& t : hammers) t.join();
  uint64_t changed = 0;
  for (uint64_t i = 0; i < p.bytes; ++i) changed += p.remote[i] != 'G';
  EXPECT_EQ(changed, 0u) << "bytes written after UnregisterMemory returned";
  EXPECT_TRUE(p.target->FreeSharedMemory(p.remote).ok());
  p.remote = nullptr;
}

INSTANTIATE_TEST_SUITE_P(Paths, TransferUnregisterUnderLoadTest, ::testing::Values("shm", "tcp"));

}  // namespace
}  // namespace kvc::transfer

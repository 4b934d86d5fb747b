// The UCX backend between two engines of this process, with UCX_TLS set to each
// transport family that exists on this machine (tcp; shared memory: posix, sysv,
// cma). Byte-exact writes and reads across slice edges.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstring>
#include <random>
#include <vector>

#include "kvc/transfer/transfer_engine.h"

namespace kvc::transfer {
namespace {

using std::chrono::milliseconds;

class UcxBackendTest : public ::testing::TestWithParam<std::string> {};

// Writes random bytes at edge sizes, reads them back, compares.
TEST_P(UcxBackendTest, RoundTripIsByteExact) {
  setenv("UCX_TLS", GetParam().c_str(), 1);
  auto directory = MakeInProcessSegmentDirectory();
  TransferEngineOptions options;
  options.backend = "ucx";
  options.segment_name = "a";
  auto a = CreateTransferEngine(options, directory.get());
  options.segment_name = "b";
  auto b = CreateTransferEngine(options, directory.get());
  unsetenv("UCX_TLS");
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_TRUE(b.ok()) << b.status();
  const uint64_t bytes = 1 << 20;
  std::vector<char> local(bytes), back(bytes), remote(bytes);
  ASSERT_TRUE((*a)->RegisterMemory(local.data(), bytes, "cpu:0", false).ok());
  ASSERT_TRUE((*a)->RegisterMemory(back.data(), bytes, "cpu:0", false).ok());
  Status reg = (*b)->RegisterMemory(remote.data(), bytes, "cpu:0", true);
  ASSERT_TRUE(reg.ok()) << reg;
  ASSERT_TRUE((*b)->Publish().ok());
  auto h = (*a)->OpenSegment("b");
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(*(*a)->BackendOf(*h), "ucx");
  std::mt19937 rng(5);
  for (char& c : local) c = static_cast<char>(rng());
  const uint64_t raddr = reinterpret_cast<uint64_t>(remote.data());
  for (uint64_t len : {uint64_t{1}, uint64_t{65536}, uint64_t{65537}, bytes - 3}) {
    std::fill(back.begin(), back.end(), 0);
    auto batch = (*a)->AllocateBatch(2);
    ASSERT_TRUE(batch.ok());
    ASSERT_TRUE(
        (*a)->Submit(*batch, {{TransferOp::kWrite, local.data() + 1, *h, raddr + 2, len}}).ok());
    ASSERT_TRUE((*a)->Wait(*batch, milliseconds(20000)).ok()) << len;
    EXPECT_EQ(0, std::memcmp(remote.data() + 2, local.data() + 1, len)) << len;
    ASSERT_TRUE((*a)->Submit(*batch, {{TransferOp::kRead, back.data(), *h, raddr + 2, len}}).ok());
    ASSERT_TRUE((*a)->Wait(*batch, milliseconds(20000)).ok()) << len;
    EXPECT_EQ(0, std::memcmp(back.data(), local.data() + 1, len)) << len;
    ASSERT_TRUE((*a)->FreeBatch(*batch).ok());
  }
}

INSTANTIATE_TEST_SUITE_P(Transports, UcxBackendTest,
                         ::testing::Values("tcp", "sm", "posix,self", "cma,tcp", "sysv,cma"),
                         [](const auto& info) {
                           std::string name = info.param;
                           for (char& c : name) c = (c == ',') ? '_' : c;
                           return name;
                         });

}  // namespace
}  // namespace kvc::transfer

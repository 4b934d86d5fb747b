// The verbs backend against real RDMA hardware (libibverbs). On a machine
// without a device (the development machine) the round-trip test SKIPS with the
// reason, and only the "unavailable" behaviour is checked; on a machine with an
// active RDMA port it moves bytes between two engines of this process over RC
// QPs (loopback through the NIC) and checks them byte for byte.
#include "transfer/verbs_backend.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "kvc/transfer/transfer_engine.h"

namespace kvc::transfer {
namespace {

using std::chrono::milliseconds;

// Without an RDMA device the verbs backend says UNAVAILABLE, clearly.
TEST(VerbsBackendTest, NoDeviceIsReportedAsUnavailable) {
  Status probe = ProbeVerbsDevices();
  if (probe.ok()) GTEST_SKIP() << "this machine has an RDMA device";
  EXPECT_EQ(probe.code(), absl::StatusCode::kUnavailable) << probe;
  EXPECT_NE(probe.message().find("verbs backend"), absl::string_view::npos);
}

// An engine configured for verbs without a device starts, and refuses to open a
// segment with the reason.
TEST(VerbsBackendTest, OpenSegmentWithVerbsFailsCleanly) {
  Status probe = ProbeVerbsDevices();
  if (probe.ok()) GTEST_SKIP() << "this machine has an RDMA device";
  auto directory = MakeInProcessSegmentDirectory();
  TransferEngineOptions options;
  options.backend = "verbs";
  auto engine = CreateTransferEngine(options, directory.get());
  ASSERT_TRUE(engine.ok()) << engine.status();
  EXPECT_TRUE((*engine)->LocalSegment().verbs_nics.empty());
  ASSERT_TRUE((*engine)->Publish().ok());
  auto handle = (*engine)->OpenSegment((*engine)->LocalSegment().name);
  EXPECT_EQ(handle.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(handle.status().message().find("RDMA device"), absl::string_view::npos)
      << handle.status();
}

// backend auto without a device never picks verbs.
TEST(VerbsBackendTest, AutoWithoutDeviceDoesNotAdvertiseVerbs) {
  if (ProbeVerbsDevices().ok()) GTEST_SKIP() << "this machine has an RDMA device";
  auto directory = MakeInProcessSegmentDirectory();
  auto engine = CreateTransferEngine(TransferEngineOptions{}, directory.get());
  ASSERT_TRUE(engine.ok()) << engine.status();
  std::vector<char> region(4096);
  ASSERT_TRUE((*engine)->RegisterMemory(region.data(), region.size(), "cpu:0", true).ok());
  const SegmentDescriptor d = (*engine)->LocalSegment();
  EXPECT_TRUE(d.verbs_nics.empty());
  EXPECT_TRUE(d.regions.at(0).verbs_rkeys.empty());
}

// Needs an RDMA device with an active port (KVC_VERBS_PORT, KVC_VERBS_GID_INDEX
// pick the port and GID): two engines, byte-exact RDMA WRITE and READ round trips
// of awkward sizes through the NIC.
TEST(VerbsBackendTest, DeviceRoundTripsAreByteExact) {
  Status probe = ProbeVerbsDevices();
  if (!probe.ok()) GTEST_SKIP() << "no usable RDMA device: " << probe.message();
  auto directory = MakeInProcessSegmentDirectory();
  TransferEngineOptions options;
  options.backend = "verbs";
  auto target = CreateTransferEngine(options, directory.get());
  ASSERT_TRUE(target.ok()) << target.status();
  options.listen_address = "";
  auto initiator = CreateTransferEngine(options, directory.get());
  ASSERT_TRUE(initiator.ok()) << initiator.status();
  std::vector<char> remote(8 << 20), local(16 << 20);
  ASSERT_TRUE((*target)->RegisterMemory(remote.data(), remote.size(), "cpu:0", true).ok());
  ASSERT_TRUE((*target)->Publish().ok());
  ASSERT_TRUE((*initiator)->RegisterMemory(local.data(), local.size(), "cpu:0", false).ok());
  auto handle = (*initiator)->OpenSegment((*target)->LocalSegment().name);
  ASSERT_TRUE(handle.ok()) << handle.status();
  ASSERT_EQ(*(*initiator)->BackendOf(*handle), "verbs");
  std::mt19937 random(3);
  for (char& c : local) c = static_cast<char>(random());
  const uint64_t base = reinterpret_cast<uint64_t>(remote.data());
  for (uint64_t length : {1ull, 65535ull, 65536ull, 65537ull, (5ull << 20) + 3}) {
    SCOPED_TRACE(::testing::Message() << "length " << length);
    auto batch = (*initiator)->AllocateBatch(1);
    ASSERT_TRUE(batch.ok());
    ASSERT_TRUE(
        (*initiator)
            ->Submit(*batch, {{TransferOp::kWrite, local.data() + 1, *handle, base + 7, length}})
            .ok());
    ASSERT_TRUE((*initiator)->Wait(*batch, milliseconds(10000)).ok());
    EXPECT_EQ(std::memcmp(remote.data() + 7, local.data() + 1, length), 0);
    char* back = local.data() + (8 << 20);
    ASSERT_TRUE((*initiator)->FreeBatch(*batch).ok());
    batch = (*initiator)->AllocateBatch(1);
    ASSERT_TRUE(batch.ok());
    ASSERT_TRUE(
        (*initiator)->Submit(*batch, {{TransferOp::kRead, back, *handle, base + 7, length}}).ok());
    ASSERT_TRUE((*initiator)->Wait(*batch, milliseconds(10000)).ok());
    EXPECT_EQ(std::memcmp(back, local.data() + 1, length), 0);
    ASSERT_TRUE((*initiator)->FreeBatch(*batch).ok());
  }
}

}  // namespace
}  // namespace kvc::transfer

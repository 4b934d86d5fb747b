#include "transfer/verbs_backend.h"

#include <gtest/gtest.h>

#include "kvc/transfer/transfer_engine.h"

namespace kvc::transfer {
namespace {

// Without an RDMA device (this machine) the verbs backend says UNAVAILABLE, clearly.
TEST(VerbsBackendTest, NoDeviceIsReportedAsUnavailable) {
  Status probe = ProbeVerbsDevices();
  EXPECT_EQ(probe.code(), absl::StatusCode::kUnavailable) << probe;
  EXPECT_NE(probe.message().find("verbs backend"), absl::string_view::npos);
}

// An engine configured for verbs refuses to open a segment with that reason.
TEST(VerbsBackendTest, OpenSegmentWithVerbsFailsCleanly) {
  auto directory = MakeInProcessSegmentDirectory();
  TransferEngineOptions options;
  options.backend = "verbs";
  auto engine = CreateTransferEngine(options, directory.get());
  ASSERT_TRUE(engine.ok()) << engine.status();
  ASSERT_TRUE((*engine)->Publish().ok());
  auto handle = (*engine)->OpenSegment((*engine)->LocalSegment().name);
  EXPECT_EQ(handle.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(handle.status().message().find("verbs"), absl::string_view::npos);
}

}  // namespace
}  // namespace kvc::transfer

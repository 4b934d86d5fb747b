#include "kvc/rpc/grpc_status.h"

#include <gtest/gtest.h>

namespace kvc {
namespace {

// Every code and the message survive absl → grpc → absl.
TEST(GrpcStatusTest, GrpcRoundTripKeepsCodeAndMessage) {
  for (int c = 1; c <= 16; ++c) {
    Status s(static_cast<absl::StatusCode>(c), "message " + std::to_string(c));
    grpc::Status g = ToGrpcStatus(s);
    EXPECT_EQ(static_cast<int>(g.error_code()), c);
    EXPECT_EQ(g.error_message(), s.message());
    EXPECT_EQ(FromGrpcStatus(g), s);
  }
}

// OK maps to OK both ways.
TEST(GrpcStatusTest, OkRoundTrip) {
  EXPECT_TRUE(ToGrpcStatus(Status()).ok());
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

// A machine-readable reason crosses the gRPC edge.
TEST(GrpcStatusTest, ReasonSurvivesGrpc) {
  Status s = WithReason(absl::ResourceExhaustedError("segment full"), "NO_SPACE");
  EXPECT_EQ(ReasonOf(s), "NO_SPACE");
  grpc::Status g = ToGrpcStatus(s);
  EXPECT_FALSE(g.error_details().empty());
  Status back = FromGrpcStatus(g);
  EXPECT_EQ(back.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(back.message(), "segment full");
  EXPECT_EQ(ReasonOf(back), "NO_SPACE");
}

// A status without a reason has none after the round trip; garbage details are ignored.
TEST(GrpcStatusTest, NoReasonAndGarbageDetails) {
  EXPECT_EQ(ReasonOf(FromGrpcStatus(ToGrpcStatus(absl::NotFoundError("x")))), "");
  grpc::Status g(grpc::StatusCode::INTERNAL, "boom", "\xff\xff not a proto");
  Status back = FromGrpcStatus(g);
  EXPECT_EQ(back.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(ReasonOf(back), "");
}

}  // namespace
}  // namespace kvc

#include "kvc/common/status.h"

#include <gtest/gtest.h>

#include "kvc/common/grpc_status.h"

namespace kvc {
namespace {

StatusOr<int> Half(int x) {
  if (x % 2 != 0) return absl::InvalidArgumentError("odd");
  return x / 2;
}

StatusOr<int> Quarter(int x) {
  KVC_ASSIGN_OR_RETURN(int h, Half(x));
  KVC_ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

Status CheckEven(int x) {
  KVC_RETURN_IF_ERROR(Half(x).status());
  return Status();
}

// The helpers propagate the first error and pass values through.
TEST(StatusTest, MacrosPropagate) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_EQ(Quarter(6).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(CheckEven(4).ok());
  EXPECT_EQ(CheckEven(3).message(), "odd");
}

// Every code and the message survive absl → grpc → absl.
TEST(StatusTest, GrpcRoundTripKeepsCodeAndMessage) {
  for (int c = 1; c <= 16; ++c) {
    Status s(static_cast<absl::StatusCode>(c), "message " + std::to_string(c));
    grpc::Status g = ToGrpcStatus(s);
    EXPECT_EQ(static_cast<int>(g.error_code()), c);
    EXPECT_EQ(g.error_message(), s.message());
    EXPECT_EQ(FromGrpcStatus(g), s);
  }
}

// OK maps to OK both ways.
TEST(StatusTest, OkRoundTrip) {
  EXPECT_TRUE(ToGrpcStatus(Status()).ok());
  EXPECT_TRUE(FromGrpcStatus(grpc::Status::OK).ok());
}

// A machine-readable reason crosses the gRPC edge.
TEST(StatusTest, ReasonSurvivesGrpc) {
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
TEST(StatusTest, NoReasonAndGarbageDetails) {
  EXPECT_EQ(ReasonOf(FromGrpcStatus(ToGrpcStatus(absl::NotFoundError("x")))), "");
  grpc::Status g(grpc::StatusCode::INTERNAL, "boom", "\xff\xff not a proto");
  Status back = FromGrpcStatus(g);
  EXPECT_EQ(back.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(ReasonOf(back), "");
}

// WithReason on OK stays OK.
TEST(StatusTest, WithReasonOnOk) { EXPECT_TRUE(WithReason(Status(), "X").ok()); }

}  // namespace
}  // namespace kvc

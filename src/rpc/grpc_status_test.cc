#include "kvc/rpc/grpc_status.h"

#include <gtest/gtest.h>

#include "kvc/common/reason.h"
#include "kvc/v1/reason.pb.h"

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

namespace kvc {
namespace {

// kvc::Reason and kvc.v1.Reason are one list: every C++ reason is the proto value
// REASON_<name> with the same number, and every proto value is a C++ reason.
TEST(GrpcStatusTest, ReasonListsAgree) {
  const google::protobuf::EnumDescriptor* proto = v1::Reason_descriptor();
  for (Reason r : AllReasons()) {
    const auto* v = proto->FindValueByName("REASON_" + std::string(ReasonName(r)));
    ASSERT_NE(v, nullptr) << ReasonName(r) << " is not in reason.proto";
    EXPECT_EQ(v->number(), static_cast<int>(r)) << ReasonName(r);
    EXPECT_EQ(ReasonFromName(ReasonName(r)), r);
  }
  for (int i = 0; i < proto->value_count(); ++i) {
    const auto* v = proto->value(i);
    if (v->number() == 0) continue;
    const std::string name = v->name().substr(std::string("REASON_").size());
    EXPECT_EQ(static_cast<int>(ReasonFromName(name)), v->number())
        << v->name() << " is not in kvc/common/reason.h";
  }
  EXPECT_EQ(static_cast<size_t>(proto->value_count()), AllReasons().size() + 1);
}

// A typed reason crosses gRPC by name and comes back as the same value; unknown
// names read as kUnspecified but keep their text.
TEST(GrpcStatusTest, TypedReasonSurvivesGrpc) {
  Status s = WithReason(absl::ResourceExhaustedError("full"), Reason::kNoKvSpace);
  EXPECT_EQ(ReasonOf(s), "NO_KV_SPACE");
  Status back = FromGrpcStatus(ToGrpcStatus(s));
  EXPECT_EQ(ReasonCodeOf(back), Reason::kNoKvSpace);
  Status odd = WithReason(absl::InternalError("x"), std::string_view("FROM_A_NEWER_PEER"));
  EXPECT_EQ(ReasonCodeOf(odd), Reason::kUnspecified);
  EXPECT_EQ(ReasonOf(odd), "FROM_A_NEWER_PEER");
  EXPECT_TRUE(WithReason(Status(), Reason::kNoSpace).ok());
}

}  // namespace
}  // namespace kvc

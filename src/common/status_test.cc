#include "kvc/common/status.h"

#include <gtest/gtest.h>

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

// WithReason on OK stays OK.
TEST(StatusTest, WithReasonOnOk) { EXPECT_TRUE(WithReason(Status(), "X").ok()); }

}  // namespace
}  // namespace kvc

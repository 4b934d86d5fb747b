#include "store/client/put_retry.h"

#include <gtest/gtest.h>

#include "absl/status/status.h"

namespace kvc::store {
namespace {

Status Refusal(const char* message, const char* reason) {
  return WithReason(absl::UnavailableError(message), reason);
}

TEST(PutRetryTest, ReadsTheGraceLeftFromATakeoverRefusal) {
  const auto left = GraceLeft(
      Refusal("PutStart: this master took over recently and allocates no DRAM for another 29871 ms "
              "(writes its predecessor allowed may still be landing); retry after that",
              "TAKEOVER_GRACE"));
  ASSERT_TRUE(left.has_value());
  EXPECT_EQ(left->count(), 29871);
}

TEST(PutRetryTest, AnythingElseSaysNothing) {
  EXPECT_FALSE(GraceLeft(Status()).has_value());
  EXPECT_FALSE(GraceLeft(Refusal("for another 5 ms", "NOT_LEADER")).has_value());
  EXPECT_FALSE(GraceLeft(Refusal("took over recently", "TAKEOVER_GRACE")).has_value());
  EXPECT_FALSE(GraceLeft(Refusal("for another soon", "TAKEOVER_GRACE")).has_value());
  EXPECT_FALSE(GraceLeft(Refusal("for another -3 ms", "TAKEOVER_GRACE")).has_value());
}

}  // namespace
}  // namespace kvc::store

#include "kvc/common/log_rate_limiter.h"

#include <gtest/gtest.h>

namespace kvc {
namespace {

// One line per interval; the next allowed line reports how many were left out.
TEST(LogRateLimiterTest, OneLinePerIntervalWithSuppressedCount) {
  FakeClock clock;
  LogRateLimiter limiter(clock, std::chrono::seconds(10));
  uint64_t suppressed = 99;
  ASSERT_TRUE(limiter.Allow(&suppressed));
  EXPECT_EQ(suppressed, 0u);
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(limiter.Allow(&suppressed));
  clock.Advance(std::chrono::milliseconds(9999));
  EXPECT_FALSE(limiter.Allow(&suppressed));
  clock.Advance(std::chrono::milliseconds(1));
  ASSERT_TRUE(limiter.Allow(&suppressed));
  EXPECT_EQ(suppressed, 6u);
  clock.Advance(std::chrono::seconds(10));
  ASSERT_TRUE(limiter.Allow(&suppressed));
  EXPECT_EQ(suppressed, 0u);
}

}  // namespace
}  // namespace kvc

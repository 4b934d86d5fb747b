#include "kvc/common/clock.h"

#include <gtest/gtest.h>

namespace kvc {
namespace {

// The fake clock moves only when advanced, in both views.
TEST(ClockTest, FakeClockAdvances) {
  FakeClock clock(1000);
  const auto t0 = clock.Now();
  EXPECT_EQ(clock.Now(), t0);
  clock.Advance(std::chrono::milliseconds(1500));
  EXPECT_EQ(clock.Now() - t0, std::chrono::milliseconds(1500));
  EXPECT_EQ(clock.UnixMillis(), 2500);
  EXPECT_DOUBLE_EQ(ToSeconds(clock.Now() - t0), 1.5);
}

// The real clock is monotonic and near the system wall clock.
TEST(ClockTest, RealClockMonotonic) {
  auto a = Clock::Real().Now();
  auto b = Clock::Real().Now();
  EXPECT_LE(a, b);
  EXPECT_GT(Clock::Real().UnixMillis(), 1'600'000'000'000);
}

}  // namespace
}  // namespace kvc

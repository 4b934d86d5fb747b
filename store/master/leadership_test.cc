#include "store/master/leadership.h"

#include <gtest/gtest.h>

namespace kvc::store {
namespace {

using std::chrono::milliseconds;

TEST(LeadershipTest, StandbyAnswersNotLeader) {
  FakeClock clock;
  Leadership l(clock, milliseconds(3000), milliseconds(300));
  l.LeaseRefreshed(clock.Now());
  EXPECT_EQ(ReasonOf(l.Check()), "NOT_LEADER");
  EXPECT_EQ(l.Check().code(), absl::StatusCode::kUnavailable);
  l.SetLeading(true);
  EXPECT_TRUE(l.Check().ok());
  l.SetLeading(false);
  EXPECT_EQ(ReasonOf(l.Check()), "NOT_LEADER");
}

// The leader stops acting as one `margin` before its lease can expire, counted
// from when the last keep-alive was sent, unless a newer keep-alive succeeds.
TEST(LeadershipTest, LeaderStopsBeforeItsLeaseCanExpire) {
  FakeClock clock;
  Leadership l(clock, milliseconds(3000), milliseconds(300));
  const Clock::TimePoint sent = clock.Now();
  clock.Advance(milliseconds(50));  // the keep-alive took 50 ms
  l.LeaseRefreshed(sent);
  l.SetLeading(true);
  clock.Advance(milliseconds(2649));  // sent + 2699 ms
  EXPECT_TRUE(l.Check().ok());
  clock.Advance(milliseconds(1));  // sent + TTL - margin
  EXPECT_EQ(ReasonOf(l.Check()), "NOT_LEADER");
  EXPECT_NE(l.Check().message().find("lease"), std::string_view::npos);
  l.LeaseRefreshed(clock.Now());  // a late keep-alive succeeded
  EXPECT_TRUE(l.Check().ok());
}

TEST(LeadershipTest, LeaderWithoutAnyRefreshIsNotTrusted) {
  FakeClock clock;
  Leadership l(clock, milliseconds(3000), milliseconds(300));
  l.SetLeading(true);
  EXPECT_EQ(ReasonOf(l.Check()), "NOT_LEADER");
}

// An older refresh arriving late never shortens the validity.
TEST(LeadershipTest, OlderRefreshDoesNotShorten) {
  FakeClock clock;
  Leadership l(clock, milliseconds(3000), milliseconds(300));
  l.SetLeading(true);
  const Clock::TimePoint old_sent = clock.Now();
  clock.Advance(milliseconds(1000));
  l.LeaseRefreshed(clock.Now());
  l.LeaseRefreshed(old_sent);
  clock.Advance(milliseconds(2000));  // old_sent + 3000, new + 2000
  EXPECT_TRUE(l.Check().ok());
}

}  // namespace
}  // namespace kvc::store

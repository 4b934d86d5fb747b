#include "kvc/common/logging.h"

#include <gtest/gtest.h>

#include <thread>

namespace kvc {
namespace {

// The request id is per thread and restored when the scope ends.
TEST(LoggingTest, ScopedRequestIdNestsAndIsThreadLocal) {
  EXPECT_EQ(CurrentRequestId(), "");
  {
    ScopedRequestId outer("req-a");
    {
      ScopedRequestId inner("req-b");
      EXPECT_EQ(CurrentRequestId(), "req-b");
      std::thread([] { EXPECT_EQ(CurrentRequestId(), ""); }).join();
    }
    EXPECT_EQ(CurrentRequestId(), "req-a");
  }
  EXPECT_EQ(CurrentRequestId(), "");
}

// One logger per component name; unknown levels are refused with the field name.
TEST(LoggingTest, NamedLoggersAndLevels) {
  auto a = Logger("unit-a");
  EXPECT_EQ(a, Logger("unit-a"));
  EXPECT_EQ(a->name(), "unit-a");
  ASSERT_TRUE(SetLogLevel("warn").ok());
  EXPECT_EQ(a->level(), spdlog::level::warn);
  EXPECT_EQ(Logger("unit-b")->level(), spdlog::level::warn);
  Status bad = SetLogLevel("loud");
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.message().find("log_level"), std::string::npos);
  ASSERT_TRUE(SetLogLevel("info").ok());
}

}  // namespace
}  // namespace kvc

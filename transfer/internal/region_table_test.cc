#include "transfer/internal/region_table.h"

#include <gtest/gtest.h>

#include <thread>

namespace kvc::transfer::internal {
namespace {

using std::chrono::milliseconds;

// Overlapping, empty, wrapping or badly located regions are refused.
TEST(RegionTableTest, RefusesBadRegions) {
  RegionTable t;
  ASSERT_TRUE(t.Add(1000, 100, "cpu:0", true).ok());
  EXPECT_EQ(t.Add(1050, 10, "cpu:0", true).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(t.Add(900, 101, "cpu:0", true).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(t.Add(2000, 0, "cpu:0", true).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(t.Add(~0ull - 10, 100, "cpu:0", true).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(t.Add(3000, 10, "disk:0", true).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(t.Add(900, 100, "cpu:0", false).ok());  // adjacent is fine
  EXPECT_EQ(t.RemoteRegions().size(), 1u);
  EXPECT_EQ(t.LocationOf(950), "cpu:0");
  EXPECT_EQ(t.LocationOf(5000), "");
}

// Pins succeed only fully inside one region, and remote pins only on remote regions.
TEST(RegionTableTest, PinChecksBoundsAndRemoteFlag) {
  RegionTable t;
  ASSERT_TRUE(t.Add(1000, 100, "cpu:0", true).ok());
  ASSERT_TRUE(t.Add(2000, 100, "cpu:0", false).ok());
  EXPECT_TRUE(t.Pin(1000, 100, true).ok());
  EXPECT_TRUE(t.Pin(1099, 1, true).ok());
  EXPECT_EQ(t.Pin(1099, 2, true).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(t.Pin(999, 1, true).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(t.Pin(1050, ~0ull, true).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(t.Pin(2000, 10, true).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_TRUE(t.Pin(2000, 10, false).ok());
}

// Remove waits for pins; with a pin held past the wait it fails and keeps the region.
TEST(RegionTableTest, RemoveWaitsForPins) {
  RegionTable t;
  ASSERT_TRUE(t.Add(1000, 100, "cpu:0", true).ok());
  auto key = t.Pin(1000, 10, true);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(t.Remove(1000, milliseconds(1)).code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(t.Pin(1000, 10, true).ok());  // still registered and usable
  t.Unpin(*key);
  t.Unpin(*key);
  std::thread remover([&] { EXPECT_TRUE(t.Remove(1000, milliseconds(60000)).ok()); });
  remover.join();
  EXPECT_EQ(t.Pin(1000, 10, true).status().code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(t.Remove(1000, milliseconds(1)).code(), absl::StatusCode::kNotFound);
}

// A Remove blocked on a pin completes as soon as the pin ends, and refuses new pins meanwhile.
TEST(RegionTableTest, RemoveRefusesNewPinsWhileWaiting) {
  RegionTable t;
  ASSERT_TRUE(t.Add(1000, 100, "cpu:0", true).ok());
  auto key = t.Pin(1000, 10, true);
  ASSERT_TRUE(key.ok());
  std::thread remover([&] { EXPECT_TRUE(t.Remove(1000, milliseconds(60000)).ok()); });
  // Wait until the remover has marked the region closing (pins start failing).
  while (t.Pin(1000, 1, true).ok()) t.Unpin(1000);
  t.Unpin(*key);
  remover.join();
  EXPECT_TRUE(t.RemoteRegions().empty());
}

}  // namespace
}  // namespace kvc::transfer::internal

#include "transfer/internal/region_table.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

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

namespace kvc::transfer::internal {
namespace {

// Records the hook calls; Drain answers `drain_result`.
struct RecordingHooks : RegionTable::RemovalHooks {
  RegionTable* table = nullptr;
  Status drain_result;
  std::vector<std::string> calls;
  bool pin_refused_while_closing = false;
  void Closing(uint64_t address) override {
    calls.push_back("closing");
    pin_refused_while_closing = !table->Pin(address, 1, true).ok();
  }
  Status Drain(uint64_t, std::chrono::steady_clock::time_point) override {
    calls.push_back("drain");
    return drain_result;
  }
  void Closed(uint64_t, bool removed) override {
    calls.push_back(removed ? "removed" : "reopened");
  }
};

// Hooks run in order while the region refuses pins; a failing Drain keeps the region.
TEST(RegionTableTest, RemovalHooksTakePartAndCanAbortTheRemoval) {
  RegionTable t;
  ASSERT_TRUE(t.Add(1000, 100, "cpu:0", true).ok());
  RecordingHooks hooks;
  hooks.table = &t;
  hooks.drain_result = absl::DeadlineExceededError("a peer is still copying");
  EXPECT_EQ(t.Remove(1000, milliseconds(10), &hooks).code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(hooks.calls, (std::vector<std::string>{"closing", "drain", "reopened"}));
  EXPECT_TRUE(hooks.pin_refused_while_closing);
  auto pin = t.Pin(1000, 1, true);
  ASSERT_TRUE(pin.ok()) << "the region stays registered and usable";
  t.Unpin(*pin);

  hooks.calls.clear();
  hooks.drain_result = absl::OkStatus();
  EXPECT_TRUE(t.Remove(1000, milliseconds(10), &hooks).ok());
  EXPECT_EQ(hooks.calls, (std::vector<std::string>{"closing", "drain", "removed"}));
  EXPECT_FALSE(t.Pin(1000, 1, true).ok());
  EXPECT_EQ(t.Remove(1000, milliseconds(10), &hooks).code(), absl::StatusCode::kNotFound);
}

// FindRemote returns the whole region; Overlaps sees partial overlaps only.
TEST(RegionTableTest, FindRemoteAndOverlaps) {
  RegionTable t;
  ASSERT_TRUE(t.Add(1000, 100, "cpu:0", true).ok());
  ASSERT_TRUE(t.Add(2000, 100, "cpu:0", false).ok());
  auto found = t.FindRemote(1050, 10);
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(*found, std::make_pair(uint64_t{1000}, uint64_t{100}));
  EXPECT_FALSE(t.FindRemote(2000, 10).ok()) << "local-only";
  EXPECT_FALSE(t.FindRemote(1090, 20).ok()) << "crosses the end";
  EXPECT_TRUE(t.Overlaps(1099, 1));
  EXPECT_TRUE(t.Overlaps(0, 1001));
  EXPECT_FALSE(t.Overlaps(1100, 900));
  EXPECT_FALSE(t.Overlaps(0, 1000));
}

}  // namespace
}  // namespace kvc::transfer::internal

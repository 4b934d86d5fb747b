#include "kvc/transfer/segment.h"

#include <gtest/gtest.h>

namespace kvc::transfer {
namespace {

// Encode → decode gives back the same descriptor.
TEST(SegmentTest, JsonRoundTripIsLossless) {
  SegmentDescriptor d;
  d.name = "127.0.0.1:4100";
  d.hostname = "h";
  d.boot_id = "b";
  d.pid = 42;
  d.pid_start_time = 7;
  d.tcp_endpoints = {"127.0.0.1:4100"};
  d.regions = {{0x1000, 4096, "cpu:0", ""}, {0xffffffffffff0000ull, 0x1000, "cuda:1", "0a0b"}};
  d.topology_json = R"({"cpu:0":{"preferred":[],"secondary":[]}})";
  auto back = DecodeSegmentDescriptor(EncodeSegmentDescriptor(d));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, d);
}

// Malformed descriptors are refused with the field named, never a crash.
TEST(SegmentTest, MalformedJsonIsRefusedWithFieldName) {
  EXPECT_EQ(DecodeSegmentDescriptor("{").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(DecodeSegmentDescriptor("[]").status().code(), absl::StatusCode::kInvalidArgument);
  auto missing = DecodeSegmentDescriptor(R"({"version":1,"name":"x"})");
  EXPECT_NE(missing.status().message().find("hostname"), absl::string_view::npos);
  SegmentDescriptor d;
  d.name = "x";
  std::string json = EncodeSegmentDescriptor(d);
  json.replace(json.find("\"pid\":0"), 7, "\"pid\":\"no\"");
  auto typed = DecodeSegmentDescriptor(json);
  EXPECT_NE(typed.status().message().find("'pid'"), absl::string_view::npos) << typed.status();
}

// Contains() handles the edges and never overflows.
TEST(SegmentTest, RegionContainsEdges) {
  RegionDescriptor r{100, 50, "cpu:0"};
  EXPECT_TRUE(r.Contains(100, 50));
  EXPECT_TRUE(r.Contains(149, 1));
  EXPECT_FALSE(r.Contains(149, 2));
  EXPECT_FALSE(r.Contains(99, 1));
  EXPECT_FALSE(r.Contains(120, ~0ull));
  EXPECT_FALSE(r.Contains(~0ull, 2));
}

// Only cpu:N / cuda:N are valid locations.
TEST(SegmentTest, LocationValidation) {
  EXPECT_TRUE(ValidateLocation("cpu:0").ok());
  EXPECT_TRUE(ValidateLocation("cuda:12").ok());
  for (const char* bad : {"", "cpu", "cpu:", "gpu:0", "cuda:-1", "cpu:1x"}) {
    EXPECT_EQ(ValidateLocation(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace kvc::transfer

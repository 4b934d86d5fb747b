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

// Verbs fields round-trip; a descriptor without them (older owners) still decodes.
TEST(SegmentTest, VerbsFieldsRoundTripAndAreOptional) {
  SegmentDescriptor d;
  d.name = "n";
  d.verbs_nics = {"mlx5_0", "mlx5_1"};
  d.regions = {{0x1000, 4096, "cpu:0", "", {{"mlx5_0", 7}, {"mlx5_1", 0xFFFFFFFFu}}}};
  auto back = DecodeSegmentDescriptor(EncodeSegmentDescriptor(d));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, d);
  SegmentDescriptor old;
  old.name = "old";
  old.regions = {{0x1000, 4096, "cpu:0"}};
  const std::string json = EncodeSegmentDescriptor(old);
  EXPECT_EQ(json.find("verbs"), std::string::npos) << json;
  auto decoded = DecodeSegmentDescriptor(json);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_TRUE(decoded->verbs_nics.empty());
  EXPECT_TRUE(decoded->regions[0].verbs_rkeys.empty());
}

// Bad verbs fields are refused with the field named.
TEST(SegmentTest, BadVerbsFieldsAreRefused) {
  SegmentDescriptor d;
  d.name = "n";
  d.regions = {{0x1000, 4096, "cpu:0", "", {{"mlx5_0", 7}}}};
  const std::string good = EncodeSegmentDescriptor(d);
  for (const char* bad :
       {R"({"mlx5_0":-1})", R"({"mlx5_0":4294967296})", R"({"mlx5_0":"7"})", R"([7])"}) {
    std::string json = good;
    json.replace(json.find(R"({"mlx5_0":7})"), 12, bad);
    auto r = DecodeSegmentDescriptor(json);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("verbs_rkeys"), absl::string_view::npos) << r.status();
  }
  std::string nics = EncodeSegmentDescriptor(d);
  nics.insert(nics.size() - 1, R"(,"verbs_nics":"mlx5_0")");
  auto r = DecodeSegmentDescriptor(nics);
  EXPECT_NE(r.status().message().find("verbs_nics"), absl::string_view::npos) << r.status();
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

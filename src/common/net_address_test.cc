#include "kvc/common/net_address.h"

#include <gtest/gtest.h>

namespace kvc {
namespace {

// Host extraction handles host:port, bracketed IPv6, bare hosts.
TEST(NetAddressTest, HostOfAddress) {
  EXPECT_EQ(HostOfAddress("10.0.0.2:50061"), "10.0.0.2");
  EXPECT_EQ(HostOfAddress("10.0.0.2"), "10.0.0.2");
  EXPECT_EQ(HostOfAddress("[::1]:80"), "::1");
  EXPECT_EQ(HostOfAddress("[::]"), "::");
  EXPECT_EQ(HostOfAddress("fe80::1"), "fe80::1");
  EXPECT_EQ(HostOfAddress("node-a.example:1"), "node-a.example");
  EXPECT_EQ(HostOfAddress(""), "");
}

// Loopback and wildcard classification.
TEST(NetAddressTest, Classification) {
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("127.3.2.1"));
  EXPECT_TRUE(IsLoopbackHost("::1"));
  EXPECT_TRUE(IsLoopbackHost("localhost"));
  EXPECT_FALSE(IsLoopbackHost("10.0.0.1"));
  EXPECT_TRUE(IsUnspecifiedHost("0.0.0.0"));
  EXPECT_TRUE(IsUnspecifiedHost("::"));
  EXPECT_TRUE(IsUnspecifiedHost(""));
  EXPECT_FALSE(IsUnspecifiedHost("10.0.0.1"));
  EXPECT_EQ(JoinHostPort("::1", 5), "[::1]:5");
  EXPECT_EQ(JoinHostPort("10.0.0.1", 5), "10.0.0.1:5");
}

// A wildcard is never publishable; loopback only when every remote is loopback too.
TEST(NetAddressTest, CheckAdvertisedAddress) {
  EXPECT_TRUE(CheckAdvertisedAddress("f", "10.0.0.2:1", {"10.0.0.1:2"}, "").ok());
  EXPECT_TRUE(CheckAdvertisedAddress("f", "127.0.0.1:1", {"127.0.0.1:2", ""}, "").ok());
  EXPECT_TRUE(CheckAdvertisedAddress("f", "127.0.0.1:1", {}, "").ok());
  Status wildcard = CheckAdvertisedAddress("transfer.advertise_address", "0.0.0.0:7", {}, "set X");
  EXPECT_EQ(wildcard.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(wildcard.message().find("transfer.advertise_address"), std::string::npos);
  EXPECT_NE(wildcard.message().find("set X"), std::string::npos);
  Status loop = CheckAdvertisedAddress("f", "127.0.0.1:7", {"127.0.0.1:1", "10.0.0.1:2"}, "");
  EXPECT_EQ(loop.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(loop.message().find("10.0.0.1:2"), std::string::npos);
}

// Wildcard binds are announced as loopback; an advertise address always wins.
TEST(NetAddressTest, PublishedAddressAndUrls) {
  EXPECT_EQ(PublishedAddress("", "0.0.0.0:50061"), "127.0.0.1:50061");
  EXPECT_EQ(PublishedAddress("", "10.0.0.2:50061"), "10.0.0.2:50061");
  EXPECT_EQ(PublishedAddress("10.0.0.9:1", "0.0.0.0:50061"), "10.0.0.9:1");
  EXPECT_EQ(HostPortsOfUrls("http://10.0.0.1:2379, https://e2:2379/x,,"),
            (std::vector<std::string>{"10.0.0.1:2379", "e2:2379"}));
}

}  // namespace
}  // namespace kvc

// ClientId: the API key's index when the caller's bearer token matches one, else
// the host part of the peer, for every peer form the front doors pass.
#include "kvc/conductor/client_id.h"

#include <gtest/gtest.h>

namespace kvc::conductor {
namespace {

// The key's index (never the key), else the address without port or gRPC prefix.
TEST(ClientIdTest, KeyIndexElsePeerHost) {
  const std::vector<std::string> keys = {"k-zero", "k-one"};
  EXPECT_EQ(ClientId(keys, "Bearer k-one", "10.0.0.7"), "key:1");
  EXPECT_EQ(ClientId(keys, "Bearer k-zero", "ipv4:10.0.0.7:5000"), "key:0");
  EXPECT_EQ(ClientId({}, "Bearer whatever", "10.0.0.7"), "addr:10.0.0.7");
  EXPECT_EQ(ClientId({}, "", "ipv4:127.0.0.1:43210"), "addr:127.0.0.1");
  EXPECT_EQ(ClientId({}, "", "ipv6:[::1]:43210"), "addr:::1");
  EXPECT_EQ(ClientId({}, "", "10.1.2.3:80"), "addr:10.1.2.3");
  EXPECT_EQ(ClientId({}, "", "fe80::1"), "addr:fe80::1");
  EXPECT_EQ(ClientId({}, "", ""), "");
}

}  // namespace
}  // namespace kvc::conductor

// kvc-master options: the token policy and the take-over grace.
#include "kvc/store/master_options.h"

#include <gtest/gtest.h>

namespace kvc {
namespace {

TEST(MasterOptionsTest, LoopbackAddresses) {
  EXPECT_TRUE(IsLoopbackAddress("127.0.0.1:50052"));
  EXPECT_TRUE(IsLoopbackAddress("127.1.2.3:0"));
  EXPECT_TRUE(IsLoopbackAddress("localhost:50052"));
  EXPECT_TRUE(IsLoopbackAddress("[::1]:50052"));
  EXPECT_FALSE(IsLoopbackAddress("0.0.0.0:50052"));
  EXPECT_FALSE(IsLoopbackAddress("[::]:50052"));
  EXPECT_FALSE(IsLoopbackAddress("10.0.0.7:50052"));
  EXPECT_FALSE(IsLoopbackAddress("master.example:50052"));
  EXPECT_FALSE(IsLoopbackAddress("128.0.0.1:1"));
}

// etcd mode: the address the leader publishes must be dialable from etcd's hosts.
TEST(MasterOptionsTest, AdvertisedLeaderAddressIsChecked) {
  MasterOptions o;
  o.etcd_endpoints = "http://10.0.0.9:2379";
  const Status loopback = ValidateMasterOptions(o);  // listens on 127.0.0.1:50052
  EXPECT_EQ(loopback.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(loopback.message().find("advertise_address"), std::string_view::npos) << loopback;
  o.server.listen_address = "0.0.0.0:50052";
  EXPECT_FALSE(ValidateMasterOptions(o).ok()) << "a wildcard is published as loopback";
  o.advertise_address = "10.0.0.1:50052";
  EXPECT_TRUE(ValidateMasterOptions(o).ok());
  o.advertise_address = "nonsense";
  EXPECT_FALSE(ValidateMasterOptions(o).ok());
  MasterOptions local;
  local.etcd_endpoints = "http://127.0.0.1:2379";
  EXPECT_TRUE(ValidateMasterOptions(local).ok());
}

TEST(MasterOptionsTest, RequireTokenRefusesAMissingToken) {
  MasterOptions o;
  EXPECT_TRUE(ValidateMasterOptions(o).ok());
  o.require_token = true;
  const Status s = ValidateMasterOptions(o);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("require_token"), std::string_view::npos) << s;
  o.cluster_token = "secret";
  EXPECT_TRUE(ValidateMasterOptions(o).ok());
}

TEST(MasterOptionsTest, TakeoverGraceIsDerivedFromThePutAndTaskTimeouts) {
  MasterOptions o;
  EXPECT_EQ(TakeoverGraceMs(o), 0u) << "no etcd: no predecessor to fence off by default";
  o.etcd_endpoints = "http://127.0.0.1:2379";
  EXPECT_EQ(TakeoverGraceMs(o), 30000u);
  o.policy.put_timeout_ms = 45000;
  EXPECT_EQ(TakeoverGraceMs(o), 45000u);
  o.policy.task_timeout_ms = 50000;
  EXPECT_EQ(TakeoverGraceMs(o), 50000u);
  o.takeover_grace_ms = 1500;
  EXPECT_EQ(TakeoverGraceMs(o), 1500u);
  o.etcd_endpoints.clear();
  EXPECT_EQ(TakeoverGraceMs(o), 1500u) << "explicit: applies from start-up without etcd";
  o.takeover_grace_ms = -2;
  EXPECT_FALSE(ValidateMasterOptions(o).ok());
}

}  // namespace
}  // namespace kvc

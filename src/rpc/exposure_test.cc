// The secure-by-default rule: which listeners count as exposed, which secrets
// are missing, and that --insecure lifts the rule but is always announced.
#include "kvc/rpc/exposure.h"

#include <gtest/gtest.h>

namespace kvc {
namespace {

bool Mentions(const Status& s, const std::string& text) {
  return std::string(s.message()).find(text) != std::string::npos;
}

// Loopback-only processes need no secrets; "" listeners are off.
TEST(ExposureTest, LoopbackListenersNeedNoSecrets) {
  Exposure e{{"127.0.0.1:50051", "localhost:8000", "[::1]:1", "127.0.0.1", ""},
             {{"cluster_token", ""}, {"admin_token", ""}}};
  EXPECT_TRUE(ExposedAddresses(e).empty());
  EXPECT_TRUE(CheckExposure(e).ok());
  EXPECT_EQ(InsecureWarning("kvc-conductor", e), "");
}

// A wildcard or routable listener without a secret is refused, naming the secret,
// the address, the flag and variables to set and --insecure.
TEST(ExposureTest, NonLoopbackListenerWithoutSecretIsRefused) {
  for (const std::string addr : {"0.0.0.0:50061", "[::]:1", "10.0.0.7:9", "0.0.0.0", "host:1"}) {
    Exposure e{{"127.0.0.1:50061", addr}, {{"cluster_token", ""}}};
    const Status s = CheckExposure(e);
    ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << addr;
    EXPECT_TRUE(Mentions(s, "cluster_token")) << s;
    EXPECT_TRUE(Mentions(s, addr)) << s;
    EXPECT_FALSE(Mentions(s, "127.0.0.1:50061")) << "only exposed addresses are named: " << s;
    EXPECT_TRUE(Mentions(s, "--cluster-token")) << s;
    EXPECT_TRUE(Mentions(s, "KVC_CLUSTER_TOKEN_FILE")) << s;
    EXPECT_TRUE(Mentions(s, "--insecure")) << s;
  }
}

// Every missing secret is named; set ones are not; with all set it passes.
TEST(ExposureTest, NamesEachMissingSecret) {
  Exposure e{{"0.0.0.0:50051"}, {{"cluster_token", "c"}, {"admin_token", ""}}};
  Status s = CheckExposure(e);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(Mentions(s, "admin_token")) << s;
  EXPECT_TRUE(Mentions(s, "--admin-token")) << s;
  EXPECT_FALSE(Mentions(s, "cluster_token")) << s;
  e.secrets[1].second = "a";
  EXPECT_TRUE(CheckExposure(e).ok());
}

// --insecure lets the process start and always yields a warning, naming what is open.
TEST(ExposureTest, InsecureStartsButWarns) {
  Exposure e{{"0.0.0.0:50052"}, {{"cluster_token", ""}}, /*insecure=*/true};
  EXPECT_TRUE(CheckExposure(e).ok());
  const std::string w = InsecureWarning("kvc-master", e);
  EXPECT_NE(w.find("kvc-master"), std::string::npos) << w;
  EXPECT_NE(w.find("cluster_token"), std::string::npos) << w;
  EXPECT_NE(w.find("0.0.0.0:50052"), std::string::npos) << w;
  e.secrets[0].second = "set";
  EXPECT_NE(InsecureWarning("kvc-master", e), "") << "warned at every start, even when unused";
}

}  // namespace
}  // namespace kvc

#include "kvc/rpc/server.h"

#include <gtest/gtest.h>

#include "kvc/rpc/client.h"

namespace kvc {
namespace {

using std::chrono::milliseconds;

// A started server answers health on its ephemeral port, and stops answering after Shutdown.
TEST(RpcServerTest, HealthServingThenGone) {
  ServerOptions options;
  options.listen_address = "127.0.0.1:0";
  auto server = RunningServer::Start("test", options, {});
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);
  auto health = CheckHealth((*server)->address(), milliseconds(2000));
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, "SERVING");
  (*server)->Shutdown(100);
  auto after = CheckHealth((*server)->address(), milliseconds(500));
  EXPECT_FALSE(after.ok());
}

// Nothing listening → a clear error within the deadline, not a hang.
TEST(RpcServerTest, HealthOfDeadAddressFails) {
  auto start = std::chrono::steady_clock::now();
  auto health = CheckHealth("127.0.0.1:1", milliseconds(500));
  EXPECT_FALSE(health.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

// Binding a port that is taken fails with a message naming the address.
TEST(RpcServerTest, PortInUseIsAnError) {
  ServerOptions a;
  a.listen_address = "127.0.0.1:0";
  auto first = RunningServer::Start("test", a, {});
  ASSERT_TRUE(first.ok());
  ServerOptions b;
  b.listen_address = (*first)->address();
  auto second = RunningServer::Start("test", b, {});
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find(b.listen_address), std::string::npos);
}

// Address validation names the field and rejects garbage.
TEST(RpcServerTest, ValidateHostPort) {
  EXPECT_TRUE(ValidateHostPort("listen_address", "127.0.0.1:0").ok());
  EXPECT_TRUE(ValidateHostPort("listen_address", "[::1]:8080").ok());
  Status s = ValidateHostPort("listen_address", "localhost");
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("listen_address"), std::string::npos);
  EXPECT_FALSE(ValidateHostPort("x", "h:70000").ok());
  EXPECT_FALSE(ValidateHostPort("x", "h:abc").ok());
}

}  // namespace
}  // namespace kvc

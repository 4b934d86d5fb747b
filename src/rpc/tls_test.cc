// gRPC TLS with certificates made here by the openssl CLI: a real server and
// client on loopback; a client without the CA (plaintext, or trusting another
// CA) is refused; with tls.client_ca_file the server requires a client
// certificate from that CA (mutual TLS).
#include "kvc/rpc/tls.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "kvc/rpc/client.h"
#include "kvc/rpc/server.h"
#include "tests/support/test_certs.h"

namespace kvc {
namespace {

using std::chrono::milliseconds;

class TlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(::testing::TempDir() + "/kvc_tls_" + std::to_string(::getpid()));
    have_openssl_ = testing::HaveOpenSsl();
    if (!have_openssl_) return;
    std::filesystem::create_directories(*dir_);
    auto certs = testing::MakeTestCerts(*dir_);
    made_ = certs.ok();
    if (!certs.ok()) std::ofstream(F("make.log")) << certs.status().message();
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    std::filesystem::remove_all(*dir_, ec);
  }
  void SetUp() override {
    if (!have_openssl_) GTEST_SKIP() << "no openssl CLI (Debian package openssl)";
    std::ifstream log(F("make.log"));
    ASSERT_TRUE(made_) << "making the test certificates failed:\n" << log.rdbuf();
  }
  void TearDown() override { EXPECT_TRUE(SetProcessTls({}).ok()); }

  static std::string F(const std::string& name) { return *dir_ + "/" + name; }
  // A real server with `tls` (taken at Start; the process settings may change later).
  std::unique_ptr<RunningServer> Serve(const TlsOptions& tls) {
    EXPECT_TRUE(SetProcessTls(tls).ok());
    ServerOptions o;
    o.listen_address = "127.0.0.1:0";
    auto s = RunningServer::Start("tls-test", o, {});
    EXPECT_TRUE(s.ok()) << s.status();
    return s.ok() ? std::move(*s) : nullptr;
  }
  // A health check over MakeChannel with the client settings `tls`.
  StatusOr<std::string> Check(const RunningServer& server, const TlsOptions& tls) {
    EXPECT_TRUE(SetProcessTls(tls).ok());
    return CheckHealth("127.0.0.1:" + std::to_string(server.port()), milliseconds(3000));
  }

  static inline std::string* dir_ = nullptr;
  static inline bool have_openssl_ = false;
  static inline bool made_ = false;
};

// Server certificate + a client trusting its CA: the call goes through.
TEST_F(TlsTest, ServerAndClientOnLoopback) {
  auto server = Serve({F("server.pem"), F("server.key"), "", ""});
  ASSERT_NE(server, nullptr);
  auto health = Check(*server, {"", "", F("ca.pem"), ""});
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, "SERVING");
}

// A plaintext client, or one trusting another CA, is refused by a TLS server.
TEST_F(TlsTest, ClientWithoutTheCaIsRefused) {
  auto server = Serve({F("server.pem"), F("server.key"), "", ""});
  ASSERT_NE(server, nullptr);
  EXPECT_FALSE(Check(*server, {}).ok()) << "plaintext reached a TLS server";
  EXPECT_FALSE(Check(*server, {"", "", F("rogue.pem"), ""}).ok())
      << "a server certificate of an untrusted CA was accepted";
  EXPECT_TRUE(Check(*server, {"", "", F("ca.pem"), ""}).ok());
}

// Mutual TLS: without a client certificate, or with one of another CA, refused;
// with one from tls.client_ca_file, served.
TEST_F(TlsTest, MutualTlsRequiresAClientCertificateFromTheClientCa) {
  auto server = Serve({F("server.pem"), F("server.key"), "", F("ca.pem")});
  ASSERT_NE(server, nullptr);
  EXPECT_FALSE(Check(*server, {"", "", F("ca.pem"), ""}).ok()) << "no client certificate";
  EXPECT_FALSE(Check(*server, {F("stranger.pem"), F("stranger.key"), F("ca.pem"), ""}).ok())
      << "a client certificate of an untrusted CA";
  auto health = Check(*server, {F("client.pem"), F("client.key"), F("ca.pem"), ""});
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, "SERVING");
}

// Bad options name the field and change nothing.
TEST_F(TlsTest, BadOptionsNameTheField) {
  auto message = [](const TlsOptions& o) { return std::string(ValidateTlsOptions(o).message()); };
  EXPECT_NE(message({F("server.pem"), "", "", ""}).find("tls.key_file"), std::string::npos);
  EXPECT_NE(message({"", F("server.key"), "", ""}).find("tls.cert_file"), std::string::npos);
  EXPECT_NE(message({"", "", "", F("ca.pem")}).find("tls.client_ca_file"), std::string::npos);
  EXPECT_NE(message({"", "", F("missing.pem"), ""}).find("tls.ca_file"), std::string::npos);
  EXPECT_TRUE(ValidateTlsOptions({}).ok());
  // A failed SetProcessTls leaves the settings as they were (plaintext here).
  EXPECT_FALSE(SetProcessTls({"", "", F("missing.pem"), ""}).ok());
  ServerOptions o;
  o.listen_address = "127.0.0.1:0";
  auto plain = RunningServer::Start("tls-test", o, {});
  ASSERT_TRUE(plain.ok());
  EXPECT_TRUE(
      CheckHealth("127.0.0.1:" + std::to_string((*plain)->port()), milliseconds(3000)).ok());
}

}  // namespace
}  // namespace kvc

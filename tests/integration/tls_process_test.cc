// TLS on real processes, with certificates made at test time: kvcctl reaches a
// TLS-only kvc-master only with tls.ca_file; kvc-conductor serves its HTTP API
// over HTTPS (http_tls_cert_file), which a client trusting the CA reaches and a
// plaintext client does not.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <nlohmann/json.hpp>

#include "kvc/http/client.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_certs.h"

namespace kvc {
namespace {

using std::chrono::milliseconds;
using testing::Subprocess;
using testing::TempDir;

int RunToExit(std::vector<std::string> argv, const std::string& log) {
  Subprocess p(std::move(argv), log);
  auto status = p.WaitFor(milliseconds(10000));
  if (!status || !WIFEXITED(*status)) return -1;
  return WEXITSTATUS(*status);
}

class TlsProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::HaveOpenSsl()) GTEST_SKIP() << "no openssl CLI (Debian package openssl)";
    auto certs = testing::MakeTestCerts(dir_.path());
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = *certs;
  }
  void TearDown() override { EXPECT_TRUE(http::SetClientTls({}).ok()); }

  TempDir dir_;
  testing::TestCerts certs_;
};

TEST_F(TlsProcessTest, KvcctlReachesATlsMasterOnlyWithTheCa) {
  const std::string port_file = dir_.path() + "/port";
  Subprocess master(
      {testing::BinDir() + "/kvc-master", "--listen-address", "127.0.0.1:0", "--port-file",
       port_file, "--tls-cert-file", certs_.server_cert, "--tls-key-file", certs_.server_key},
      dir_.path() + "/master.log");
  const int port = testing::WaitForPortFile(port_file, milliseconds(10000));
  ASSERT_GT(port, 0) << testing::ReadFile(dir_.path() + "/master.log");
  const std::string target = "127.0.0.1:" + std::to_string(port);
  const std::string out = dir_.path() + "/ctl.out";
  EXPECT_EQ(RunToExit({testing::BinDir() + "/kvcctl", "--target", target, "--timeout-ms", "2000",
                       "health"},
                      out),
            1)
      << "a plaintext kvcctl got through to a TLS-only server";
  EXPECT_EQ(RunToExit({testing::BinDir() + "/kvcctl", "--target", target, "--tls-ca-file",
                       certs_.rogue_ca, "--timeout-ms", "2000", "health"},
                      out),
            1)
      << "kvcctl trusted a certificate from another CA";
  EXPECT_EQ(RunToExit({testing::BinDir() + "/kvcctl", "--target", target, "--tls-ca-file",
                       certs_.ca, "--json", "health"},
                      out),
            0)
      << testing::ReadFile(out);
  EXPECT_NE(testing::ReadFile(out).find("\"serving\":true"), std::string::npos);
  EXPECT_EQ(RunToExit({testing::BinDir() + "/kvcctl", "--target", target, "--tls-ca-file",
                       dir_.path() + "/missing.pem", "health"},
                      out),
            2)
      << "an unreadable CA file is a configuration error";
  master.Signal(SIGTERM);
  EXPECT_TRUE(master.WaitFor(milliseconds(5000)).has_value());
}

TEST_F(TlsProcessTest, ConductorServesItsHttpApiOverHttps) {
  const std::string port_file = dir_.path() + "/http";
  Subprocess conductor({testing::BinDir() + "/kvc-conductor", "--listen-address", "127.0.0.1:0",
                        "--http-port", "0", "--http-port-file", port_file, "--http-tls-cert-file",
                        certs_.server_cert, "--http-tls-key-file", certs_.server_key},
                       dir_.path() + "/conductor.log");
  const int port = testing::WaitForPortFile(port_file, milliseconds(20000));
  ASSERT_GT(port, 0) << testing::ReadFile(dir_.path() + "/conductor.log");
  http::Url url = http::Loopback(port);
  url.tls = true;
  ASSERT_TRUE(http::SetClientTls({certs_.ca, "", ""}).ok());
  auto live = http::Fetch(url, "GET", "/livez");
  ASSERT_TRUE(live.ok()) << live.status();
  EXPECT_EQ(live->status, 200);
  auto health = http::Fetch(url, "GET", "/health");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(health->status, 503) << "no workers: not ready";
  EXPECT_EQ(nlohmann::json::parse(health->body)["status"], "no_prefill_nodes") << health->body;

  http::Url plain = url;
  plain.tls = false;
  http::RequestOptions o;
  o.total_timeout = milliseconds(3000);
  auto r = http::Fetch(plain, "GET", "/livez", "", o);
  EXPECT_FALSE(r.ok() && r->status == 200) << "plain HTTP was served on the HTTPS port";
  conductor.Signal(SIGTERM);
  auto exit = conductor.WaitFor(milliseconds(10000));
  ASSERT_TRUE(exit.has_value());
  EXPECT_TRUE(WIFEXITED(*exit) && WEXITSTATUS(*exit) == 0);
}

TEST_F(TlsProcessTest, ConductorRefusesACertificateWithoutItsKey) {
  const std::string log = dir_.path() + "/conductor.log";
  EXPECT_EQ(RunToExit({testing::BinDir() + "/kvc-conductor", "--listen-address", "127.0.0.1:0",
                       "--http-port", "0", "--http-tls-cert-file", certs_.server_cert},
                      log),
            2);
  EXPECT_NE(testing::ReadFile(log).find("http_tls_key_file"), std::string::npos)
      << testing::ReadFile(log);
}

}  // namespace
}  // namespace kvc

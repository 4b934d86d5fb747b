// etcd over TLS with client-certificate authentication, as a production etcd
// runs: kvc's etcd client reaches it only with the cluster CA and a client
// certificate (tls.*), and a kvc-master given https:// endpoints campaigns in
// it and becomes the leader.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <thread>

#include "kvc/http/client.h"
#include "store/etcd/etcd_client.h"
#include "tests/store/etcd_cluster.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_certs.h"

namespace kvc::store {
namespace {

using std::chrono::milliseconds;

class EtcdTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!testing::HaveEtcd()) GTEST_SKIP() << "no /usr/bin/etcd (Debian package etcd-server)";
    if (!kvc::testing::HaveOpenSsl()) GTEST_SKIP() << "no openssl CLI (Debian package openssl)";
    auto certs = kvc::testing::MakeTestCerts(dir_.path());
    ASSERT_TRUE(certs.ok()) << certs.status();
    certs_ = *certs;
    client_url_ = "https://127.0.0.1:" + std::to_string(testing::FreePort());
    const std::string peer = "http://127.0.0.1:" + std::to_string(testing::FreePort());
    etcd_ = std::make_unique<kvc::testing::Subprocess>(
        std::vector<std::string>{"/usr/bin/etcd",
                                 "--name",
                                 "t",
                                 "--data-dir",
                                 data_.path() + "/etcd",
                                 "--listen-client-urls",
                                 client_url_,
                                 "--advertise-client-urls",
                                 client_url_,
                                 "--listen-peer-urls",
                                 peer,
                                 "--initial-advertise-peer-urls",
                                 peer,
                                 "--initial-cluster",
                                 "t=" + peer,
                                 "--cert-file",
                                 certs_.server_cert,
                                 "--key-file",
                                 certs_.server_key,
                                 "--client-cert-auth",
                                 "--trusted-ca-file",
                                 certs_.ca},
        dir_.path() + "/etcd.log");
  }
  void TearDown() override { EXPECT_TRUE(http::SetClientTls({}).ok()); }

  // Waits (bounded) until a Get through `client` succeeds.
  bool WaitUp(EtcdClient& client) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (!client.Get("/probe").ok() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(100));
    }
    return client.Get("/probe").ok();
  }

  kvc::testing::TempDir dir_;
  kvc::testing::TempDir data_{"/dev/shm"};
  kvc::testing::TestCerts certs_;
  std::string client_url_;
  std::unique_ptr<kvc::testing::Subprocess> etcd_;
};

TEST_F(EtcdTlsTest, ClientNeedsTheCaAndACertificate) {
  EtcdClient etcd({client_url_}, milliseconds(2000));
  ASSERT_TRUE(http::SetClientTls({certs_.ca, certs_.client_cert, certs_.client_key}).ok());
  ASSERT_TRUE(WaitUp(etcd)) << kvc::testing::ReadFile(dir_.path() + "/etcd.log");
  ASSERT_TRUE(http::SetClientTls({certs_.ca, "", ""}).ok());
  EXPECT_FALSE(etcd.Get("/probe").ok()) << "etcd served a client without a certificate";
  ASSERT_TRUE(http::SetClientTls({certs_.rogue_ca, certs_.client_cert, certs_.client_key}).ok());
  EXPECT_FALSE(etcd.Get("/probe").ok()) << "the client trusted an etcd certificate of another CA";
  ASSERT_TRUE(http::SetClientTls({certs_.ca, certs_.stranger_cert, certs_.stranger_key}).ok());
  EXPECT_FALSE(etcd.Get("/probe").ok()) << "etcd accepted a client certificate of another CA";
}

TEST_F(EtcdTlsTest, MasterCampaignsOverHttps) {
  EtcdClient etcd({client_url_}, milliseconds(2000));
  ASSERT_TRUE(http::SetClientTls({certs_.ca, certs_.client_cert, certs_.client_key}).ok());
  ASSERT_TRUE(WaitUp(etcd)) << kvc::testing::ReadFile(dir_.path() + "/etcd.log");
  const std::string port_file = dir_.path() + "/m.port";
  kvc::testing::Subprocess master(
      {kvc::testing::BinDir() + "/kvc-master", "--listen-address", "127.0.0.1:0", "--port-file",
       port_file, "--etcd-endpoints", client_url_, "--etcd-lease-ttl-s", "2", "--tls-ca-file",
       certs_.ca, "--tls-cert-file", certs_.server_cert, "--tls-key-file", certs_.server_key},
      dir_.path() + "/m.log");
  const int port = kvc::testing::WaitForPortFile(port_file, milliseconds(10000));
  ASSERT_GT(port, 0) << kvc::testing::ReadFile(dir_.path() + "/m.log");
  const std::string address = "127.0.0.1:" + std::to_string(port);
  std::string leader;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (leader != address && std::chrono::steady_clock::now() < deadline) {
    auto v = etcd.Get("/kvc/master/leader");
    if (v.ok() && v->has_value()) leader = **v;
    if (leader != address) std::this_thread::sleep_for(milliseconds(50));
  }
  EXPECT_EQ(leader, address) << kvc::testing::ReadFile(dir_.path() + "/m.log");
  master.Signal(SIGTERM);
  EXPECT_TRUE(master.WaitFor(milliseconds(5000)).has_value());
}

}  // namespace
}  // namespace kvc::store

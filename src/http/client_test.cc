#include "kvc/http/client.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <mutex>
#include <thread>

#include "kvc/http/server.h"
#include "tests/support/subprocess.h"
#include "tests/support/test_certs.h"

namespace kvc::http {
namespace {

using std::chrono::milliseconds;

class HttpClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions o;
    o.port = 0;
    server_ = std::make_unique<HttpServer>(o);
  }
  void Start() {
    ASSERT_TRUE(server_->Start().ok());
    url_ = Loopback(server_->port());
  }
  std::unique_ptr<HttpServer> server_;
  Url url_;
};

// A plain JSON answer: status, body and headers come back; the request carried
// the method, body, content type and extra headers.
TEST_F(HttpClientTest, FetchSendsRequestAndReadsBody) {
  server_->Route("POST", "/echo", [](const Request& req, std::shared_ptr<ResponseWriter> w) {
    w->Respond(201, "application/json",
               req.body + "|" + req.Header("x-test") + "|" + req.Header("content-type"),
               {{"Retry-After", "3"}});
  });
  Start();
  RequestOptions o;
  o.headers = {"X-Test: yes"};
  auto r = Fetch(url_, "POST", "/echo", "{\"a\":1}", o);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 201);
  EXPECT_EQ(r->body, "{\"a\":1}|yes|application/json");
  EXPECT_EQ(r->Header("retry-after"), "3");
  EXPECT_EQ(r->Header("RETRY-AFTER"), "3");
  EXPECT_EQ(r->Header("x-absent"), "");
  EXPECT_FALSE(r->closed_early);
}

// An unknown route is still a response (404), not an error.
TEST_F(HttpClientTest, HttpErrorStatusIsAResponse) {
  Start();
  auto r = Fetch(url_, "GET", "/nothing");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 404);
}

// Every SSE event reaches the callback in order and the body stays empty; without
// a callback the same stream is the body.
TEST_F(HttpClientTest, EventStreamDeliveredEventByEvent) {
  server_->Route("GET", "/events", [](const Request&, std::shared_ptr<ResponseWriter> w) {
    w->StartEventStream();
    for (const char* e : {"one", "{\"two\":2}", "[DONE]"}) w->SendEvent(e);
    w->End();
  });
  Start();
  std::vector<std::string> events;
  auto r = Fetch(url_, "GET", "/events", "", {}, [&](const std::string& data) {
    events.push_back(data);
    return true;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(events, (std::vector<std::string>{"one", "{\"two\":2}", "[DONE]"}));
  EXPECT_EQ(r->body, "");
  auto raw = Fetch(url_, "GET", "/events");
  ASSERT_TRUE(raw.ok()) << raw.status();
  EXPECT_EQ(raw->body, "data: one\n\ndata: {\"two\":2}\n\ndata: [DONE]\n\n");
}

// A callback that returns false closes the connection: Fetch returns at once
// although the stream never ends, and the server sees the disconnect.
TEST_F(HttpClientTest, CallbackFalseDisconnects) {
  auto disconnected = std::make_shared<std::promise<void>>();
  std::shared_ptr<ResponseWriter> held;
  server_->Route("GET", "/forever", [&](const Request&, std::shared_ptr<ResponseWriter> w) {
    w->OnDisconnect([disconnected] { disconnected->set_value(); });
    w->StartEventStream();
    w->SendEvent("a");
    w->SendEvent("b");
    held = w;  // never End()s
  });
  Start();
  int seen = 0;
  RequestOptions o;
  o.idle_timeout = milliseconds(10000);
  auto r = Fetch(url_, "GET", "/forever", "", o, [&](const std::string&) { return ++seen < 1; });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->closed_early);
  EXPECT_EQ(seen, 1);
  EXPECT_EQ(disconnected->get_future().wait_for(std::chrono::seconds(10)),
            std::future_status::ready);
}

// A server that accepts and never answers: DEADLINE_EXCEEDED after the idle timeout.
TEST_F(HttpClientTest, SilentServerHitsIdleTimeout) {
  std::shared_ptr<ResponseWriter> held;
  server_->Route("GET", "/silent",
                 [&](const Request&, std::shared_ptr<ResponseWriter> w) { held = w; });
  Start();
  RequestOptions o;
  o.idle_timeout = milliseconds(200);
  const auto start = std::chrono::steady_clock::now();
  auto r = Fetch(url_, "GET", "/silent", "", o);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

// The total timeout bounds a stream that keeps sending.
TEST_F(HttpClientTest, TotalTimeoutBoundsAStream) {
  std::mutex mu;
  std::shared_ptr<ResponseWriter> held;  // guarded by mu
  server_->Route("GET", "/trickle", [&](const Request&, std::shared_ptr<ResponseWriter> w) {
    w->StartEventStream();
    std::lock_guard lock(mu);
    held = w;
  });
  Start();
  std::atomic<bool> stop{false};
  std::thread feeder([&] {
    while (!stop) {
      {
        std::lock_guard lock(mu);
        if (held) held->SendEvent("x");
      }
      std::this_thread::sleep_for(milliseconds(20));  // pacing the stream, not synchronisation
    }
  });
  RequestOptions o;
  o.total_timeout = milliseconds(300);
  auto r = Fetch(url_, "GET", "/trickle", "", o, [](const std::string&) { return true; });
  stop = true;
  feeder.join();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
}

// Nothing listening: UNAVAILABLE.
TEST(HttpClientErrorsTest, ConnectionRefusedIsUnavailable) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);  // bound, never listening: connect is refused
  auto r = Fetch(Loopback(ntohs(a.sin_port)), "GET", "/");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
}

// A raw server that answers with `reply` to the first connection, then closes.
class RawServer {
 public:
  explicit RawServer(std::string reply) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    listen(fd_, 1);
    thread_ = std::thread([this, reply] {
      const int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      char buf[4096];
      (void)recv(c, buf, sizeof buf, 0);
      (void)send(c, reply.data(), reply.size(), MSG_NOSIGNAL);
      close(c);
    });
  }
  ~RawServer() {
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

// Bad chunk framing and a stream cut before its last chunk: DATA_LOSS.
TEST(HttpClientErrorsTest, BrokenFramingIsDataLoss) {
  {
    RawServer s("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n");
    EXPECT_EQ(Fetch(Loopback(s.port()), "GET", "/").status().code(), absl::StatusCode::kDataLoss);
  }
  {
    RawServer s("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab");
    EXPECT_EQ(Fetch(Loopback(s.port()), "GET", "/").status().code(), absl::StatusCode::kDataLoss);
  }
  {
    RawServer s("SSH-2.0-OpenSSH\r\n\r\n");
    EXPECT_EQ(Fetch(Loopback(s.port()), "GET", "/").status().code(), absl::StatusCode::kDataLoss);
  }
}

// Content-Length bodies end at their length; close-delimited ones at EOF.
TEST(HttpClientErrorsTest, LengthAndCloseDelimitedBodies) {
  {
    RawServer s("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcdef");
    auto r = Fetch(Loopback(s.port()), "GET", "/");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->body, "abc");
  }
  {
    RawServer s("HTTP/1.0 200 OK\r\n\r\nuntil eof");
    auto r = Fetch(Loopback(s.port()), "GET", "/");
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->body, "until eof");
  }
}

// URL forms accepted and refused, with the field named.
// HTTPS end to end: kvc's server with a certificate from a test CA, kvc's
// client trusting that CA. A client that trusts only the system roots or another
// CA is refused at the handshake; a plaintext client on the HTTPS port is closed
// (counted) and the server goes on serving; an event stream works over TLS.
class HttpsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!testing::HaveOpenSsl()) return;
    dir_ = new testing::TempDir();
    made_ = new StatusOr<testing::TestCerts>(testing::MakeTestCerts(dir_->path()));
  }
  static void TearDownTestSuite() {
    delete made_;
    delete dir_;
    made_ = nullptr;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (made_ == nullptr) GTEST_SKIP() << "no openssl CLI (Debian package openssl)";
    ASSERT_TRUE(made_->ok()) << made_->status();
    certs_ = **made_;
    ServerOptions o;
    o.port = 0;
    o.tls_cert_file = certs_.server_cert;
    o.tls_key_file = certs_.server_key;
    o.read_timeout_ms = 2000;
    server_ = std::make_unique<HttpServer>(o);
    server_->Route("GET", "/hi", [](const Request& r, std::shared_ptr<ResponseWriter> w) {
      w->Respond(200, "text/plain", "hello over tls " + r.query);
    });
    server_->Route("GET", "/events", [](const Request&, std::shared_ptr<ResponseWriter> w) {
      w->StartEventStream();
      for (int i = 0; i < 3; ++i) w->SendEvent(std::to_string(i));
      w->End();
    });
    ASSERT_TRUE(server_->Start().ok());
    url_ = Loopback(server_->port());
    url_.tls = true;
  }
  void TearDown() override { EXPECT_TRUE(SetClientTls({}).ok()); }

  static inline testing::TempDir* dir_ = nullptr;  // the certificates, made once per suite
  static inline StatusOr<testing::TestCerts>* made_ = nullptr;
  testing::TestCerts certs_;
  std::unique_ptr<HttpServer> server_;
  Url url_;
};

TEST_F(HttpsTest, TrustedClientGetsTheAnswer) {
  ASSERT_TRUE(SetClientTls({certs_.ca, "", ""}).ok());
  auto r = Fetch(url_, "GET", "/hi?x");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello over tls x");
  url_.host = "localhost";  // the certificate names it too
  EXPECT_TRUE(Fetch(url_, "GET", "/hi").ok());
}

TEST_F(HttpsTest, EventStreamOverTls) {
  ASSERT_TRUE(SetClientTls({certs_.ca, "", ""}).ok());
  std::vector<std::string> events;
  auto r = Fetch(url_, "GET", "/events", "", {}, [&](const std::string& e) {
    events.push_back(e);
    return true;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(events, (std::vector<std::string>{"0", "1", "2"}));
}

TEST_F(HttpsTest, UntrustedServerIsRefused) {
  ASSERT_TRUE(SetClientTls({}).ok());  // system roots only
  auto r = Fetch(url_, "GET", "/hi");
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_NE(r.status().message().find("TLS handshake"), std::string::npos) << r.status();
  ASSERT_TRUE(SetClientTls({certs_.rogue_ca, "", ""}).ok());
  EXPECT_EQ(Fetch(url_, "GET", "/hi").status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(HttpsTest, PlaintextClientIsClosedAndTheServerGoesOn) {
  Url plain = url_;
  plain.tls = false;
  RequestOptions o;
  o.total_timeout = milliseconds(3000);
  auto r = Fetch(plain, "GET", "/hi", "", o);
  EXPECT_FALSE(r.ok() && r->status == 200) << "plain HTTP was served on the HTTPS port";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (server_->TlsHandshakeFailures() == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(2));
  }
  EXPECT_EQ(server_->TlsHandshakeFailures(), 1u);
  ASSERT_TRUE(SetClientTls({certs_.ca, "", ""}).ok());
  EXPECT_TRUE(Fetch(url_, "GET", "/hi").ok());
}

TEST_F(HttpsTest, BadCertificateOptionsNameTheFile) {
  ServerOptions o;
  o.port = 0;
  o.tls_cert_file = certs_.dir + "/missing.pem";
  o.tls_key_file = certs_.server_key;
  HttpServer bad(o);
  Status s = bad.Start();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("missing.pem"), std::string::npos) << s;
  o.tls_cert_file = certs_.server_cert;
  o.tls_key_file = "";
  EXPECT_EQ(HttpServer(o).Start().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SetClientTls({certs_.dir + "/nope.pem", "", ""}).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(HttpClientUrlTest, ParseUrl) {
  auto u = ParseUrl("http://10.0.0.1:2379");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "10.0.0.1");
  EXPECT_EQ(u->port, 2379);
  EXPECT_EQ(u->path_prefix, "");
  u = ParseUrl("http://example:8000/proxy/");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "example");
  EXPECT_EQ(u->path_prefix, "/proxy");
  u = ParseUrl("http://localhost");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->port, 80);
  u = ParseUrl("http://[::1]:9000");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "::1");
  EXPECT_EQ(u->port, 9000);
  u = ParseUrl("https://h");
  ASSERT_TRUE(u.ok());
  EXPECT_TRUE(u->tls);
  EXPECT_EQ(u->port, 443);
  for (const char* bad : {"ftp://x:1", "x:1", "http://:80", "http://h:0", "http://h:99999",
                          "http://h:", "http://[::1", "http://h:abc"}) {
    auto r = ParseUrl(bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find(bad), std::string::npos) << r.status();
  }
}

}  // namespace
}  // namespace kvc::http

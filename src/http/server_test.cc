#include "kvc/http/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <thread>

#include "kvc/common/utf8.h"

namespace kvc::http {
namespace {

// A blocking test client with a receive deadline on every read.
class Client {
 public:
  explicit Client(uint16_t port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~Client() { Close(); }
  bool connected() const { return connected_; }
  // True once a read saw the server close the connection (not a read timeout).
  bool eof() const { return eof_; }
  void Send(const std::string& s) { (void)!write(fd_, s.data(), s.size()); }
  // Reads until `needle` appears or the connection closes / times out.
  std::string ReadUntil(const std::string& needle) {
    std::string out;
    char buf[4096];
    while (out.find(needle) == std::string::npos) {
      ssize_t n = read(fd_, buf, sizeof(buf));
      if (n == 0) eof_ = true;
      if (n <= 0) break;
      out.append(buf, n);
    }
    return out;
  }
  std::string ReadAll() { return ReadUntil("\x01never\x02"); }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void StartServer(ServerOptions o = {}) {
    o.port = 0;
    server_ = std::make_unique<HttpServer>(o);
    server_->Route("GET", "/hello", [](const Request& r, std::shared_ptr<ResponseWriter> w) {
      w->Respond(200, "text/plain", "hello " + r.query);
    });
    server_->Route("POST", "/echo", [](const Request& r, std::shared_ptr<ResponseWriter> w) {
      w->Respond(200, "text/plain", r.body + "|" + r.Header("x-kvc-test"), {{"X-Reply", "yes"}});
    });
    server_->Route("GET", "/stream", [](const Request&, std::shared_ptr<ResponseWriter> w) {
      // Answer from another thread, as a real generator would.
      std::thread([w] {
        w->StartEventStream();
        for (int i = 0; i < 3; ++i) w->SendEvent("{\"i\":" + std::to_string(i) + "}");
        w->SendEvent("[DONE]");
        w->End();
      }).detach();
    });
    server_->Route("GET", "/hang", [this](const Request&, std::shared_ptr<ResponseWriter> w) {
      w->StartEventStream();
      w->OnDisconnect([this] {
        std::lock_guard lock(mu_);
        disconnected_ = true;
        cv_.notify_all();
      });
      std::lock_guard lock(mu_);
      held_ = w;  // keeps the stream open until the client leaves
    });
    // Holds the request unanswered (as a non-streamed generation does) until the
    // test calls AnswerPending().
    server_->Route("GET", "/pending", [this](const Request&, std::shared_ptr<ResponseWriter> w) {
      w->OnDisconnect([this] {
        std::lock_guard lock(mu_);
        disconnected_ = true;
        cv_.notify_all();
      });
      std::lock_guard lock(mu_);
      held_ = w;
      cv_.notify_all();
    });
    server_->Route("GET", "/drop", [](const Request&, std::shared_ptr<ResponseWriter>) {});
    // Rejects the request, echoing a header into the JSON error (as handlers do).
    server_->Route("GET", "/reject", [](const Request& r, std::shared_ptr<ResponseWriter> w) {
      w->Respond(400, "application/json",
                 OpenAiErrorBody("bad header '" + r.Header("x-kvc-test") + "'",
                                 "invalid_request_error", "bad"));
    });
    server_->Route("GET", "/throw", [](const Request&, std::shared_ptr<ResponseWriter>) {
      throw std::runtime_error("secret detail \xFF");
    });
    server_->Route("GET", "/throw-int",
                   [](const Request&, std::shared_ptr<ResponseWriter>) { throw 42; });
    ASSERT_TRUE(server_->Start().ok());
  }
  void TearDown() override {
    if (server_) server_->Shutdown();
    held_.reset();
  }

  // Waits until /pending holds a writer.
  bool WaitPending() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(5), [this] { return held_ != nullptr; });
  }

  std::unique_ptr<HttpServer> server_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool disconnected_ = false;
  std::shared_ptr<ResponseWriter> held_;
};

// A plain request gets its response, and keep-alive serves a second one on the same connection.
TEST_F(HttpServerTest, RespondsAndKeepsAlive) {
  StartServer();
  Client c(server_->port());
  ASSERT_TRUE(c.connected());
  c.Send("GET /hello?x=1 HTTP/1.1\r\nHost: t\r\n\r\n");
  std::string a = c.ReadUntil("hello x=1");
  EXPECT_NE(a.find("HTTP/1.1 200"), std::string::npos) << a;
  c.Send("POST /echo HTTP/1.1\r\nHost: t\r\nX-Kvc-Test: hdr\r\nContent-Length: 4\r\n\r\nbody");
  std::string b = c.ReadUntil("body|hdr");
  EXPECT_NE(b.find("body|hdr"), std::string::npos) << b;
  EXPECT_NE(b.find("X-Reply: yes"), std::string::npos) << b;
}

// Unknown paths get 404 and wrong methods 405, both with an OpenAI-style error body.
TEST_F(HttpServerTest, NotFoundAndMethodNotAllowed) {
  StartServer();
  Client a(server_->port());
  a.Send("GET /nope HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  std::string ra = a.ReadAll();
  EXPECT_NE(ra.find("HTTP/1.1 404"), std::string::npos) << ra;
  EXPECT_NE(ra.find("\"error\""), std::string::npos);
  Client b(server_->port());
  b.Send("POST /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
  EXPECT_NE(b.ReadAll().find("HTTP/1.1 405"), std::string::npos);
}

// An SSE stream written from another thread arrives in order, chunked, and ends.
TEST_F(HttpServerTest, EventStreamInOrder) {
  StartServer();
  Client c(server_->port());
  c.Send("GET /stream HTTP/1.1\r\nHost: t\r\n\r\n");
  std::string s = c.ReadAll();  // server closes after End()
  EXPECT_NE(s.find("text/event-stream"), std::string::npos) << s;
  const size_t i0 = s.find("data: {\"i\":0}"), i2 = s.find("data: {\"i\":2}"),
               done = s.find("data: [DONE]"), last = s.find("\r\n0\r\n\r\n");
  ASSERT_NE(i0, std::string::npos) << s;
  EXPECT_LT(i0, i2);
  EXPECT_LT(i2, done);
  EXPECT_NE(last, std::string::npos) << "no final chunk";
}

// A client that leaves mid-stream fires OnDisconnect, so the request can be cancelled.
TEST_F(HttpServerTest, DisconnectFiresCallback) {
  StartServer();
  {
    Client c(server_->port());
    c.Send("GET /hang HTTP/1.1\r\nHost: t\r\n\r\n");
    c.ReadUntil("\r\n\r\n");
  }  // closes the socket
  std::unique_lock lock(mu_);
  EXPECT_TRUE(cv_.wait_for(lock, std::chrono::seconds(5), [this] { return disconnected_; }));
  lock.unlock();
  EXPECT_FALSE(held_->SendEvent("late")) << "writes after disconnect must report failure";
}

// A client that leaves while its request is unanswered (not streamed) fires
// OnDisconnect, so a non-streamed generation is cancelled too.
TEST_F(HttpServerTest, DisconnectWhilePendingFiresCallback) {
  StartServer();
  {
    Client c(server_->port());
    c.Send("GET /pending HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_TRUE(WaitPending());
  }  // closes the socket
  std::unique_lock lock(mu_);
  EXPECT_TRUE(cv_.wait_for(lock, std::chrono::seconds(5), [this] { return disconnected_; }));
  lock.unlock();
  EXPECT_FALSE(held_->Respond(200, "text/plain", "late")) << "the client is gone";
}

// Watching a pending request consumes nothing: a request pipelined behind it is
// served after it, in order, and the first request's callback does not fire.
TEST_F(HttpServerTest, PipelinedRequestBehindAPendingOneIsServed) {
  StartServer();
  Client c(server_->port());
  c.Send("GET /pending HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_TRUE(WaitPending());
  c.Send("GET /hello?next HTTP/1.1\r\nHost: t\r\n\r\n");
  std::shared_ptr<ResponseWriter> w;
  {
    std::lock_guard lock(mu_);
    w = held_;
  }
  ASSERT_TRUE(w->Respond(200, "text/plain", "first"));
  std::string r = c.ReadUntil("hello next");
  EXPECT_NE(r.find("first"), std::string::npos) << r;
  EXPECT_LT(r.find("first"), r.find("hello next")) << r;
  std::lock_guard lock(mu_);
  EXPECT_FALSE(disconnected_);
}

// Over-limit bodies get 413 and do not reach the handler.
TEST_F(HttpServerTest, BodyLimit) {
  ServerOptions o;
  o.max_body_bytes = 16;
  StartServer(o);
  Client c(server_->port());
  c.Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'x'));
  std::string r = c.ReadAll();
  EXPECT_NE(r.find("HTTP/1.1 413"), std::string::npos) << r;
  EXPECT_EQ(r.find("|"), std::string::npos);
}

// Garbage on the wire closes that connection and leaves the server serving others.
TEST_F(HttpServerTest, GarbageRequestIsDropped) {
  StartServer();
  Client bad(server_->port());
  bad.Send("\x16\x03\x01 not http at all\r\n\r\n");
  const std::string answer = bad.ReadAll();
  EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << answer;
  EXPECT_TRUE(bad.eof()) << "the server closes a connection that sent garbage";
  Client good(server_->port());
  good.Send("GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_NE(good.ReadAll().find("200"), std::string::npos);
}

// A handler that drops its writer still produces a response (500), never a hang.
TEST_F(HttpServerTest, DroppedWriterAnswers500) {
  StartServer();
  Client c(server_->port());
  c.Send("GET /drop HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_NE(c.ReadAll().find("HTTP/1.1 500"), std::string::npos);
}

// The body of a complete response read with ReadAll (after the blank line).
std::string BodyOf(const std::string& response) {
  const size_t at = response.find("\r\n\r\n");
  return at == std::string::npos ? "" : response.substr(at + 4);
}

// Raw 0xFF, an overlong NUL (C0 80) and a lone surrogate (ED A0 80) in the path and
// in a header value that a handler echoes into JSON: each gets a 4xx whose body is
// valid UTF-8 JSON, and the server keeps serving (the issue-16 crash: the 404 body
// echoed the path and serialising it threw on an I/O thread).
TEST_F(HttpServerTest, InvalidUtf8InPathAndHeaderGets4xxAndServerLives) {
  StartServer();
  for (const std::string bad : {"\xFF\xFE", "\xC0\x80", "\xED\xA0\x80"}) {
    Client path(server_->port());
    path.Send("GET /v1/" + bad + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    const std::string rp = path.ReadAll();
    EXPECT_EQ(rp.rfind("HTTP/1.1 404", 0), 0u) << rp;
    EXPECT_TRUE(IsValidUtf8(BodyOf(rp))) << rp;
    EXPECT_NE(BodyOf(rp).find("\"error\""), std::string::npos) << rp;

    Client header(server_->port());
    header.Send("GET /reject HTTP/1.1\r\nHost: x\r\nX-Kvc-Test: a" + bad +
                "b\r\nConnection: close\r\n\r\n");
    const std::string rh = header.ReadAll();
    EXPECT_EQ(rh.rfind("HTTP/1.1 400", 0), 0u) << rh;
    EXPECT_TRUE(IsValidUtf8(BodyOf(rh))) << rh;
    EXPECT_NE(BodyOf(rh).find("bad header 'a\xEF\xBF\xBD"), std::string::npos) << rh;

    Client good(server_->port());
    good.Send("GET /hello?after HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    EXPECT_NE(good.ReadAll().find("hello after"), std::string::npos) << "server stopped serving";
  }
}

// A handler that throws (a standard exception or anything else) gets a 500 that
// carries no exception text, and the server keeps serving.
TEST_F(HttpServerTest, ThrowingHandlerAnswers500WithoutExceptionText) {
  StartServer();
  for (const char* path : {"/throw", "/throw-int"}) {
    Client c(server_->port());
    c.Send(std::string("GET ") + path + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    const std::string r = c.ReadAll();
    EXPECT_EQ(r.rfind("HTTP/1.1 500", 0), 0u) << r;
    EXPECT_EQ(r.find("secret"), std::string::npos) << r;
    EXPECT_TRUE(IsValidUtf8(BodyOf(r))) << r;
  }
  Client good(server_->port());
  good.Send("GET /hello?x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_NE(good.ReadAll().find("hello x"), std::string::npos);
}

// Hundreds of concurrently open streams are held by two I/O threads, and Shutdown
// closes them all and fires every disconnect callback.
TEST_F(HttpServerTest, ManyOpenStreamsThenShutdown) {
  ServerOptions o;
  o.io_threads = 2;
  o.port = 0;
  server_ = std::make_unique<HttpServer>(o);
  std::atomic<int> disconnects{0};
  std::mutex held_mu;
  std::vector<std::shared_ptr<ResponseWriter>> held;
  server_->Route("GET", "/s", [&](const Request&, std::shared_ptr<ResponseWriter> w) {
    w->StartEventStream();
    w->SendEvent("open");
    w->OnDisconnect([&] { disconnects++; });
    std::lock_guard lock(held_mu);
    held.push_back(w);
  });
  ASSERT_TRUE(server_->Start().ok());
  constexpr int kStreams = 500;
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < kStreams; ++i) {
    clients.push_back(std::make_unique<Client>(server_->port()));
    clients.back()->Send("GET /s HTTP/1.1\r\nHost: t\r\n\r\n");
  }
  for (auto& c : clients)
    ASSERT_NE(c->ReadUntil("data: open").find("data: open"), std::string::npos);
  EXPECT_EQ(server_->OpenConnections(), static_cast<size_t>(kStreams));
  server_->Shutdown();
  EXPECT_EQ(disconnects.load(), kStreams);
  EXPECT_EQ(server_->OpenConnections(), 0u);
  std::lock_guard lock(held_mu);
  held.clear();
}

// Each malformed request gets a 400 with a JSON error body, then the server
// closes the connection (before: it closed silently) and goes on serving.
TEST_F(HttpServerTest, MalformedRequestsGet400ThenClose) {
  StartServer();
  const std::vector<std::string> bad = {
      "GET\r\n\r\n",                            // no target, no version
      "GET / HTTQ/1.1\r\nHost: t\r\n\r\n",      // bad version
      "G(T / HTTP/1.1\r\nHost: t\r\n\r\n",      // bad method token
      "GET /hello HTTP/1.1\r\nHost t\r\n\r\n",  // header without colon
      "POST /echo HTTP/1.1\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nbody",
      "POST /echo HTTP/1.1\r\nContent-Length: 4, 5\r\n\r\nbody",  // conflicting list
      "POST /echo HTTP/1.1\r\nContent-Length: -1\r\n\r\n",        // negative
      "POST /echo HTTP/1.1\r\nContent-Length: four\r\n\r\n",      // non-numeric
      "POST /echo HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\nbody",
      "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\nbody",
      "POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",  // bad chunk size
  };
  for (const std::string& request : bad) {
    Client c(server_->port());
    c.Send(request);
    const std::string r = c.ReadAll();
    EXPECT_EQ(r.rfind("HTTP/1.1 400", 0), 0u) << request << " -> " << r;
    EXPECT_NE(BodyOf(r).find("\"error\""), std::string::npos) << r;
    EXPECT_NE(r.find("Connection: close"), std::string::npos) << r;
    EXPECT_TRUE(c.eof()) << "connection not closed after a 400 to " << request;
  }
  Client good(server_->port());
  good.Send("GET /hello?x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_NE(good.ReadAll().find("hello x"), std::string::npos);
}

// An oversized header block gets 431 and an oversized request target 414 (both
// a target over max_target_bytes inside the header limit, and one so long it
// hits the header limit itself); each connection is then closed.
TEST_F(HttpServerTest, OversizedHeaderGets431AndOversizedTarget414) {
  StartServer();  // defaults: 64 KiB header block, 8 KiB target
  struct Case {
    std::string request;
    std::string status;
  };
  const std::vector<Case> cases = {
      {"GET /hello HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(70 << 10, 'a') + "\r\n\r\n",
       "HTTP/1.1 431"},
      {"GET /hello?" + std::string(9 << 10, 'q') + " HTTP/1.1\r\nHost: t\r\n\r\n", "HTTP/1.1 414"},
      {"GET /hello?" + std::string(70 << 10, 'q') + " HTTP/1.1\r\nHost: t\r\n\r\n", "HTTP/1.1 414"},
  };
  for (const Case& k : cases) {
    Client c(server_->port());
    c.Send(k.request);
    const std::string r = c.ReadAll();
    EXPECT_EQ(r.rfind(k.status, 0), 0u) << k.status << " expected, got: " << r.substr(0, 200);
    EXPECT_TRUE(c.eof());
  }
  // Just under the limits is served.
  Client ok(server_->port());
  ok.Send("GET /hello?" + std::string(8000, 'q') + " HTTP/1.1\r\nHost: t\r\nX-Big: " +
          std::string(40 << 10, 'a') + "\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(ok.ReadAll().rfind("HTTP/1.1 200", 0), 0u);
}

// A body shorter than its Content-Length gets 408 when the read deadline fires
// (before: a silent close), while an idle connection is closed without a word.
TEST_F(HttpServerTest, IncompleteRequestGets408AtReadDeadline) {
  ServerOptions o;
  o.read_timeout_ms = 300;
  StartServer(o);
  const auto start = std::chrono::steady_clock::now();
  Client body(server_->port());
  body.Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
  const std::string rb = body.ReadAll();
  EXPECT_EQ(rb.rfind("HTTP/1.1 408", 0), 0u) << rb;
  EXPECT_TRUE(body.eof());
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));

  Client header(server_->port());
  header.Send("GET /hello HTTP/1.1\r\nHost: t\r\n");  // header never finished
  EXPECT_EQ(header.ReadAll().rfind("HTTP/1.1 408", 0), 0u);
  EXPECT_TRUE(header.eof());

  Client idle(server_->port());
  EXPECT_EQ(idle.ReadAll(), "");
  EXPECT_TRUE(idle.eof()) << "an idle connection is closed at the deadline";

  // After a request answered later (its socket was watched while pending), an
  // incomplete second request on the same connection still gets its 408.
  for (int i = 0; i < 5; ++i) {
    {
      std::lock_guard lock(mu_);
      held_.reset();
    }
    Client later(server_->port());
    later.Send("GET /pending HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_TRUE(WaitPending());
    std::shared_ptr<ResponseWriter> w;
    {
      std::lock_guard lock(mu_);
      w = held_;
    }
    ASSERT_TRUE(w->Respond(200, "text/plain", "first"));
    ASSERT_NE(later.ReadUntil("first").find("first"), std::string::npos);
    later.Send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
    const std::string r2 = later.ReadAll();
    EXPECT_EQ(r2.rfind("HTTP/1.1 408", 0), 0u) << "round " << i << ": " << r2;
  }

  // The deadline is per request: a keep-alive connection that sends its second
  // request in time is served.
  Client keep(server_->port());
  keep.Send("GET /hello?1 HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_NE(keep.ReadUntil("hello 1").find("hello 1"), std::string::npos);
  keep.Send("GET /hello?2 HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_NE(keep.ReadUntil("hello 2").find("hello 2"), std::string::npos);
}

// An HTTP/1.0 client's event stream is close-delimited: no chunked encoding
// (HTTP/1.0 has none), Connection: close, events raw on the wire, then EOF.
TEST_F(HttpServerTest, Http10EventStreamIsCloseDelimited) {
  StartServer();
  Client c(server_->port());
  c.Send("GET /stream HTTP/1.0\r\nHost: t\r\n\r\n");
  const std::string s = c.ReadAll();
  EXPECT_TRUE(c.eof());
  EXPECT_NE(s.find("text/event-stream"), std::string::npos) << s;
  EXPECT_EQ(s.find("Transfer-Encoding"), std::string::npos) << s;
  EXPECT_NE(s.find("Connection: close"), std::string::npos) << s;
  EXPECT_EQ(BodyOf(s), "data: {\"i\":0}\n\ndata: {\"i\":1}\n\ndata: {\"i\":2}\n\ndata: [DONE]\n\n");
  // An HTTP/1.1 client still gets chunks.
  Client d(server_->port());
  d.Send("GET /stream HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_NE(d.ReadAll().find("Transfer-Encoding: chunked"), std::string::npos);
}

// Binding a taken port fails with a clear message.
// Waits (bounded) until the server counts `n` open connections.
bool WaitOpenConnections(const HttpServer& server, size_t n) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (server.OpenConnections() != n) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

// At max_connections a new connection gets 503 + Retry-After and is closed
// without being read; the open ones keep working, and once one closes a new
// client is served again.
TEST_F(HttpServerTest, ConnectionLimitRefusesWith503ThenServesAgain) {
  ServerOptions o;
  o.max_connections = 2;
  o.retry_after_s = 7;
  StartServer(o);
  Client a(server_->port()), b(server_->port());
  ASSERT_TRUE(a.connected() && b.connected());
  ASSERT_TRUE(WaitOpenConnections(*server_, 2));

  Client refused(server_->port());
  const std::string r = refused.ReadAll();
  EXPECT_EQ(r.rfind("HTTP/1.1 503", 0), 0u) << r;
  EXPECT_NE(r.find("Retry-After: 7"), std::string::npos) << r;
  EXPECT_NE(r.find("too_many_connections"), std::string::npos) << r;
  EXPECT_TRUE(refused.eof());
  EXPECT_EQ(server_->RefusedConnections(), 1u);

  a.Send("GET /hello?still HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_NE(a.ReadUntil("hello still").find("HTTP/1.1 200"), std::string::npos);

  b.Close();
  ASSERT_TRUE(WaitOpenConnections(*server_, 1));
  Client again(server_->port());
  again.Send("GET /hello?again HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_NE(again.ReadAll().find("hello again"), std::string::npos);
  EXPECT_EQ(server_->RefusedConnections(), 1u);
}

TEST(HttpServerStartTest, PortInUse) {
  ServerOptions o;
  o.port = 0;
  HttpServer a(o);
  ASSERT_TRUE(a.Start().ok());
  ServerOptions p;
  p.port = a.port();
  HttpServer b(p);
  Status s = b.Start();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find(std::to_string(a.port())), std::string::npos);
}

}  // namespace
}  // namespace kvc::http

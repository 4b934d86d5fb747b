#include "kvc/http/server.h"

#include <sys/socket.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <cerrno>
#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kvc/common/json.h"
#include "kvc/common/logging.h"

namespace kvc::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

std::string Request::Header(const std::string& name) const {
  auto it = headers.find(name);
  return it == headers.end() ? std::string() : it->second;
}

std::string OpenAiErrorBody(const std::string& message, const std::string& type,
                            const std::string& code) {
  nlohmann::json j = {{"error", {{"message", message}, {"type", type}, {"code", code}}}};
  return DumpJson(j);
}

class Session;

struct HttpServer::Impl {
  explicit Impl(ServerOptions o) : options(std::move(o)), acceptor(ioc) {}
  void Accept();
  void RunIoThread();
  void Unregister(Session* s);

  const ServerOptions options;
  std::map<std::pair<std::string, std::string>, Handler> routes;  // constant after Start()
  net::io_context ioc;
  tcp::acceptor acceptor;
  std::unique_ptr<net::ssl::context> tls;  // set by Start() when options.tls_cert_file is given
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work;
  std::vector<std::thread> threads;
  uint16_t port = 0;
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> refused{0};  // connections refused at max_connections
  std::atomic<uint64_t> tls_handshake_failures{0};
  mutable std::mutex mu;
  std::map<Session*, std::weak_ptr<Session>> sessions;  // guarded by mu
};

namespace {

enum class ReplyState { kNone, kResponded, kStreaming, kEnded };

std::string ChunkOf(const std::string& payload) {
  return absl::StrFormat("%x\r\n", payload.size()) + payload + "\r\n";
}

}  // namespace

// One connection, as the writer and the server see it: what is shared between
// threads (the atomics, the disconnect callback under cb_mu_) lives here; the
// stream and everything touched only on the connection's strand live in
// StreamSession below.
class Session : public std::enable_shared_from_this<Session> {
 public:
  virtual ~Session() = default;
  virtual void Start() = 0;
  // The server is at max_connections: answer 503 + Retry-After without reading a
  // request, then close.
  virtual void StartRefused() = 0;
  virtual void CloseFromAnyThread() = 0;
  virtual void PostResponse(bhttp::response<bhttp::string_body> response) = 0;
  virtual void PostRaw(std::string bytes, bool last) = 0;
  // Called when a stream started: watch the socket so a client that goes away
  // is noticed even while no event is being written.
  virtual void PostWatchForDisconnect() = 0;

  bool closed() const { return closed_.load(); }
  std::atomic<ReplyState>& reply_state() { return reply_state_; }
  void SetDisconnectCallback(std::function<void()> cb) {
    std::unique_lock lock(cb_mu_);
    if (closed_.load()) {
      lock.unlock();
      net::post(executor_, std::move(cb));
      return;
    }
    on_disconnect_ = std::move(cb);
  }

 protected:
  explicit Session(net::any_io_executor executor) : executor_(std::move(executor)) {}

  const net::any_io_executor executor_;  // the connection's strand
  std::atomic<bool> closed_{false};
  std::atomic<ReplyState> reply_state_{ReplyState::kNone};
  std::mutex cb_mu_;
  std::function<void()> on_disconnect_;  // guarded by cb_mu_
};

using PlainStream = beast::tcp_stream;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;

// A connection over `Stream` (PlainStream or TlsStream). Every member below is
// touched only on the connection's strand.
template <class Stream>
class StreamSession final : public Session {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  StreamSession(tcp::socket socket, HttpServer::Impl* server)
      : Session(socket.get_executor()),
        stream_(MakeStream(std::move(socket), server)),
        server_(server),
        read_timer_(socket_executor()) {}

  void Start() override {
    net::dispatch(executor_, [self = Self()] {
      if constexpr (kTls) {
        self->Handshake([self] { self->Read(); });
      } else {
        self->Read();
      }
    });
  }
  void StartRefused() override {
    net::dispatch(executor_, [self = Self()] {
      auto refuse = [self] {
        self->Reject(bhttp::status::service_unavailable,
                     "the server is at its connection limit; retry later", "too_many_connections",
                     "server_error");
      };
      if constexpr (kTls) {
        self->Handshake(refuse);
      } else {
        refuse();
      }
    });
  }
  void CloseFromAnyThread() override {
    net::post(executor_, [self = Self()] { self->Close(); });
  }
  void PostResponse(bhttp::response<bhttp::string_body> response) override {
    net::post(executor_, [self = Self(), r = std::move(response)]() mutable {
      self->WriteResponse(std::move(r));
    });
  }
  void PostRaw(std::string bytes, bool last) override {
    net::post(executor_, [self = Self(), b = std::move(bytes), last]() mutable {
      self->Enqueue(std::move(b), last);
    });
  }
  void PostWatchForDisconnect() override {
    net::post(executor_, [self = Self()] { self->WatchForDisconnect(); });
  }

 private:
  static Stream MakeStream(tcp::socket socket, HttpServer::Impl* server);
  net::any_io_executor socket_executor() { return executor_; }
  std::shared_ptr<StreamSession> Self() {
    return std::static_pointer_cast<StreamSession>(shared_from_this());
  }
  beast::tcp_stream& Tcp() { return beast::get_lowest_layer(stream_); }

  // TLS: the server handshake within read_timeout_ms, then `next`; a failed or
  // late handshake closes the connection.
  void Handshake(std::function<void()> next);
  void Read();
  void ArmReadDeadline();
  void DisarmReadDeadline();
  void OnHeader(beast::error_code ec);
  void OnReadError(beast::error_code ec);
  bool ReceivedAny() const;
  bool RequestLineTooLong() const;
  void Reject(bhttp::status status, const std::string& message, const std::string& code,
              const std::string& type = "invalid_request_error");
  void LingeringClose();
  void Drain();
  void Dispatch();
  void DispatchOrThrow(std::shared_ptr<ResponseWriter>* writer_out);
  void AnswerInternalError(const std::shared_ptr<ResponseWriter>& writer) noexcept;
  void WriteResponse(bhttp::response<bhttp::string_body> response);
  void Enqueue(std::string bytes, bool last);
  void WriteNext();
  void WatchForDisconnect();
  void WatchPendingRequest(uint64_t generation);
  void Close();

  Stream stream_;
  HttpServer::Impl* server_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bool keep_alive_ = false;
  bool streaming_ = false;
  std::deque<std::string> out_;
  bool writing_ = false;
  bool close_after_drain_ = false;
  char probe_[1];
  net::steady_timer read_timer_;  // the read deadline (see ArmReadDeadline)
  uint64_t read_generation_ = 0;  // bumped per armed deadline; stale firings are ignored
  bool read_timed_out_ = false;
  uint64_t request_generation_ = 0;  // bumped per dispatched request
  std::string drain_;                // scratch for LingeringClose
};

template <>
PlainStream StreamSession<PlainStream>::MakeStream(tcp::socket socket, HttpServer::Impl*) {
  return PlainStream(std::move(socket));
}

template <>
TlsStream StreamSession<TlsStream>::MakeStream(tcp::socket socket, HttpServer::Impl* server) {
  return TlsStream(std::move(socket), *server->tls);
}

namespace {

class WriterImpl final : public ResponseWriter {
 public:
  WriterImpl(std::shared_ptr<Session> session, bool keep_alive, unsigned version)
      : session_(std::move(session)), keep_alive_(keep_alive), version_(version) {}

  ~WriterImpl() override {
    // A handler that dropped the request without answering must not leave the
    // client waiting forever. A destructor must not throw (it may run on any
    // thread, outside every handler): anything that fails here is logged.
    try {
      if (session_->reply_state().load() == ReplyState::kNone) {
        Respond(500, "application/json",
                OpenAiErrorBody("the server dropped the request without a response", "server_error",
                                "internal_error"),
                {});
      } else if (session_->reply_state().load() == ReplyState::kStreaming) {
        End();
      }
    } catch (...) {
      Logger("http")->error("answering a dropped request failed");
    }
  }

  bool Respond(int status, const std::string& content_type, std::string body,
               const Headers& extra) override {
    ReplyState expected = ReplyState::kNone;
    if (session_->closed() ||
        !session_->reply_state().compare_exchange_strong(expected, ReplyState::kResponded)) {
      return false;
    }
    bhttp::response<bhttp::string_body> r{static_cast<bhttp::status>(status), version_};
    r.set(bhttp::field::server, "kvc");
    r.set(bhttp::field::content_type, content_type);
    for (const auto& [k, v] : extra) r.set(k, v);
    r.keep_alive(keep_alive_);
    r.body() = std::move(body);
    r.prepare_payload();
    session_->PostResponse(std::move(r));
    return true;
  }

  bool StartEventStream(const Headers& extra) override {
    ReplyState expected = ReplyState::kNone;
    if (session_->closed() ||
        !session_->reply_state().compare_exchange_strong(expected, ReplyState::kStreaming)) {
      return false;
    }
    // HTTP/1.0 has no chunked encoding: the body is delimited by the close.
    std::string head =
        "HTTP/1.1 200 OK\r\nServer: kvc\r\nContent-Type: text/event-stream\r\n"
        "Cache-Control: no-cache\r\nConnection: close\r\n";
    if (chunked()) head += "Transfer-Encoding: chunked\r\n";
    for (const auto& [k, v] : extra) absl::StrAppend(&head, k, ": ", v, "\r\n");
    head += "\r\n";
    session_->PostRaw(std::move(head), false);
    session_->PostWatchForDisconnect();
    return true;
  }

  bool SendEvent(const std::string& data) override {
    if (session_->closed() || session_->reply_state().load() != ReplyState::kStreaming)
      return false;
    std::string event = "data: " + data + "\n\n";
    session_->PostRaw(chunked() ? ChunkOf(event) : std::move(event), false);
    return true;
  }

  void End() override {
    ReplyState expected = ReplyState::kStreaming;
    if (!session_->reply_state().compare_exchange_strong(expected, ReplyState::kEnded)) return;
    session_->PostRaw(chunked() ? "0\r\n\r\n" : "", true);
  }

  bool Closed() const override { return session_->closed(); }
  void OnDisconnect(std::function<void()> callback) override {
    session_->SetDisconnectCallback(std::move(callback));
  }

 private:
  bool chunked() const { return version_ >= 11; }

  std::shared_ptr<Session> session_;
  const bool keep_alive_;
  const unsigned version_;
};

}  // namespace

template <class Stream>
void StreamSession<Stream>::Handshake(std::function<void()> next) {
  if constexpr (kTls) {
    Tcp().expires_after(std::chrono::milliseconds(server_->options.read_timeout_ms));
    stream_.async_handshake(net::ssl::stream_base::server,
                            [self = Self(), next = std::move(next)](beast::error_code ec) {
                              if (ec) {
                                self->server_->tls_handshake_failures.fetch_add(1);
                                return self->Close();  // not TLS, a bad client, or too slow
                              }
                              self->Tcp().expires_never();
                              next();
                            });
  } else {
    next();
  }
}

template <class Stream>
void StreamSession<Stream>::Read() {
  if (closed_) return;
  parser_.emplace();
  parser_->body_limit(server_->options.max_body_bytes);
  parser_->header_limit(static_cast<uint32_t>(server_->options.max_header_bytes));
  // The read deadline is our own timer, not the stream's: beast::tcp_stream
  // closes the socket when its timer fires, and a 408 must still be written.
  Tcp().expires_never();
  ArmReadDeadline();
  bhttp::async_read_header(stream_, buffer_, *parser_,
                           [self = Self()](beast::error_code ec, size_t) { self->OnHeader(ec); });
}

// On expiry, cancels the pending read; OnReadError sees read_timed_out_.
template <class Stream>
void StreamSession<Stream>::ArmReadDeadline() {
  read_timed_out_ = false;
  const uint64_t generation = ++read_generation_;
  read_timer_.expires_after(std::chrono::milliseconds(server_->options.read_timeout_ms));
  read_timer_.async_wait([self = Self(), generation](beast::error_code ec) {
    if (ec || generation != self->read_generation_ || self->closed_) return;
    self->read_timed_out_ = true;
    beast::error_code ignored;
    self->Tcp().socket().cancel(ignored);
  });
}

template <class Stream>
void StreamSession<Stream>::DisarmReadDeadline() {
  ++read_generation_;
  read_timer_.cancel();
}

template <class Stream>
void StreamSession<Stream>::OnHeader(beast::error_code ec) {
  if (!ec && read_timed_out_) ec = net::error::operation_aborted;
  if (ec) return OnReadError(ec);
  if (parser_->get().target().size() > server_->options.max_target_bytes) {
    return Reject(bhttp::status::uri_too_long,
                  absl::StrCat("request target is over the ", server_->options.max_target_bytes,
                               "-byte limit"),
                  "uri_too_long");
  }
  auto on_body = [self = Self()](beast::error_code ec, size_t) {
    if (!ec && self->read_timed_out_) ec = net::error::operation_aborted;
    if (ec) return self->OnReadError(ec);
    self->DisarmReadDeadline();
    self->Dispatch();
  };
  if (parser_->is_done()) return on_body({}, 0);
  bhttp::async_read(stream_, buffer_, *parser_, std::move(on_body));
}

// True when any byte of the next request arrived (else the connection was idle).
template <class Stream>
bool StreamSession<Stream>::ReceivedAny() const {
  return buffer_.size() > 0 || parser_->got_some();
}

// With the header limit hit: true when the request line is what is too long
// (so the answer is 414, not 431). The parser consumes the request line once
// it is complete, so an empty target means it never was.
template <class Stream>
bool StreamSession<Stream>::RequestLineTooLong() const {
  const size_t target = parser_->get().target().size();
  return target == 0 || target > server_->options.max_target_bytes;
}

namespace {

// Errors that mean the request's bytes were not valid HTTP (answered 400).
bool IsMalformedRequest(beast::error_code ec) {
  using E = bhttp::error;
  for (E e : {E::bad_line_ending, E::bad_method, E::bad_target, E::bad_version, E::bad_field,
              E::bad_value, E::bad_content_length, E::bad_transfer_encoding, E::bad_chunk,
              E::bad_chunk_extension, E::bad_obs_fold, E::unexpected_body, E::bad_alloc}) {
    if (ec == e) return true;
  }
  return false;
}

}  // namespace

template <class Stream>
void StreamSession<Stream>::OnReadError(beast::error_code ec) {
  DisarmReadDeadline();
  if (read_timed_out_) {
    if (!ReceivedAny()) return Close();  // an idle keep-alive connection
    return Reject(
        bhttp::status::request_timeout,
        absl::StrCat("request not received within ", server_->options.read_timeout_ms, " ms"),
        "request_timeout");
  }
  if (ec == bhttp::error::body_limit) {
    return Reject(
        bhttp::status::payload_too_large,
        absl::StrCat("request body is over the ", server_->options.max_body_bytes, "-byte limit"),
        "body_too_large");
  }
  if (ec == bhttp::error::header_limit) {
    if (RequestLineTooLong()) {
      return Reject(bhttp::status::uri_too_long,
                    absl::StrCat("request target is over the ", server_->options.max_target_bytes,
                                 "-byte limit"),
                    "uri_too_long");
    }
    return Reject(bhttp::status::request_header_fields_too_large,
                  absl::StrCat("request header block is over the ",
                               server_->options.max_header_bytes, "-byte limit"),
                  "headers_too_large");
  }
  // The message names the parse error only (fixed text), never the input.
  if (IsMalformedRequest(ec)) {
    return Reject(bhttp::status::bad_request, "malformed HTTP request: " + ec.message(),
                  "bad_request");
  }
  Close();  // end of stream, reset, a request cut short by the client
}

// Answers an error that ends the connection: the client may still be sending
// (a body, the rest of a header), so the socket is half-closed and drained
// rather than reset, or the client could lose the answer.
template <class Stream>
void StreamSession<Stream>::Reject(bhttp::status status, const std::string& message,
                                   const std::string& code, const std::string& type) {
  if (closed_) return;
  reply_state_ = ReplyState::kResponded;
  auto r = std::make_shared<bhttp::response<bhttp::string_body>>(status, 11);
  r->set(bhttp::field::server, "kvc");
  r->set(bhttp::field::content_type, "application/json");
  if (status == bhttp::status::service_unavailable) {
    r->set(bhttp::field::retry_after, std::to_string(server_->options.retry_after_s));
  }
  r->body() = OpenAiErrorBody(message, type, code);
  r->keep_alive(false);
  r->prepare_payload();
  Tcp().expires_after(std::chrono::milliseconds(server_->options.write_timeout_ms));
  bhttp::async_write(stream_, *r, [self = Self(), r](beast::error_code ec, size_t) {
    if (ec) return self->Close();
    self->LingeringClose();
  });
}

template <class Stream>
void StreamSession<Stream>::LingeringClose() {
  beast::error_code ignored;
  Tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
  drain_.resize(4096);
  Tcp().expires_after(std::chrono::seconds(1));  // bounds how long we drain
  Drain();
}

template <class Stream>
void StreamSession<Stream>::Drain() {
  stream_.async_read_some(net::buffer(drain_), [self = Self()](beast::error_code ec, size_t) {
    if (ec) return self->Close();  // EOF, reset or the drain deadline
    self->Drain();
  });
}

// The last-resort handler: nothing a route handler (or the request's bytes)
// does may escape onto the I/O thread. The 500 it answers carries no
// exception text and echoes nothing from the request.
template <class Stream>
void StreamSession<Stream>::Dispatch() {
  const uint64_t generation = ++request_generation_;
  std::shared_ptr<ResponseWriter> writer;
  try {
    DispatchOrThrow(&writer);
  } catch (const std::exception& e) {
    Logger("http")->error("request handler failed: {}", e.what());
    AnswerInternalError(writer);
  } catch (...) {
    Logger("http")->error("request handler failed with a non-standard exception");
    AnswerInternalError(writer);
  }
  // A handler that answers later (e.g. a non-streamed generation) must still
  // learn that its client left, so the work is cancelled.
  if (!closed_ && reply_state_.load() == ReplyState::kNone) WatchPendingRequest(generation);
}

template <class Stream>
void StreamSession<Stream>::AnswerInternalError(
    const std::shared_ptr<ResponseWriter>& writer) noexcept {
  try {
    static const std::string body =
        OpenAiErrorBody("internal server error", "server_error", "internal_error");
    if (writer) {
      writer->Respond(500, "application/json", body, {});
      return;
    }
    // Failed before a writer existed: answer directly and close.
    reply_state_ = ReplyState::kResponded;
    bhttp::response<bhttp::string_body> r{bhttp::status::internal_server_error, 11};
    r.set(bhttp::field::content_type, "application/json");
    r.body() = body;
    r.keep_alive(false);
    r.prepare_payload();
    WriteResponse(std::move(r));
  } catch (...) {
    Close();
  }
}

template <class Stream>
void StreamSession<Stream>::DispatchOrThrow(std::shared_ptr<ResponseWriter>* writer_out) {
  auto& msg = parser_->get();
  keep_alive_ = msg.keep_alive();
  Request req;
  req.method = std::string(msg.method_string());
  const std::string target(msg.target());
  const size_t q = target.find('?');
  req.path = target.substr(0, q);
  if (q != std::string::npos) req.query = target.substr(q + 1);
  for (const auto& field : msg) {
    req.headers[absl::AsciiStrToLower(std::string(field.name_string()))] =
        std::string(field.value());
  }
  req.body = std::move(msg.body());
  beast::error_code ignored;
  auto endpoint = Tcp().socket().remote_endpoint(ignored);
  req.remote_address = ignored ? "" : endpoint.address().to_string();

  reply_state_ = ReplyState::kNone;
  auto writer = std::make_shared<WriterImpl>(Self(), keep_alive_, msg.version());
  *writer_out = writer;
  auto it = server_->routes.find({req.method, req.path});
  if (it == server_->routes.end()) {
    bool path_known = false;
    for (const auto& [key, h] : server_->routes) path_known |= key.second == req.path;
    if (path_known) {
      writer->Respond(405, "application/json",
                      OpenAiErrorBody("method " + req.method + " not allowed on " + req.path,
                                      "invalid_request_error", "method_not_allowed"),
                      {});
    } else {
      writer->Respond(404, "application/json",
                      OpenAiErrorBody("no route " + req.path, "invalid_request_error", "not_found"),
                      {});
    }
    return;
  }
  it->second(req, writer);
}

template <class Stream>
void StreamSession<Stream>::WriteResponse(bhttp::response<bhttp::string_body> response) {
  if (closed_) return;
  auto shared = std::make_shared<bhttp::response<bhttp::string_body>>(std::move(response));
  const bool keep = shared->keep_alive();
  Tcp().expires_after(std::chrono::milliseconds(server_->options.write_timeout_ms));
  bhttp::async_write(stream_, *shared, [self = Self(), shared, keep](beast::error_code ec, size_t) {
    if (ec || !keep) {
      {
        std::lock_guard lock(self->cb_mu_);
        self->on_disconnect_ = nullptr;  // the request completed normally
      }
      return self->Close();
    }
    {
      std::lock_guard lock(self->cb_mu_);
      self->on_disconnect_ = nullptr;
    }
    self->Read();
  });
}

template <class Stream>
void StreamSession<Stream>::Enqueue(std::string bytes, bool last) {
  if (closed_) return;
  streaming_ = true;
  if (!bytes.empty()) out_.push_back(std::move(bytes));
  if (last) close_after_drain_ = true;
  if (!writing_) WriteNext();
}

template <class Stream>
void StreamSession<Stream>::WriteNext() {
  if (closed_) return;
  if (out_.empty()) {
    writing_ = false;
    if (close_after_drain_) {
      std::lock_guard lock(cb_mu_);
      on_disconnect_ = nullptr;  // ended normally
    }
    if (close_after_drain_) Close();
    return;
  }
  writing_ = true;
  Tcp().expires_after(std::chrono::milliseconds(server_->options.write_timeout_ms));
  net::async_write(stream_, net::buffer(out_.front()),
                   [self = Self()](beast::error_code ec, size_t) {
                     if (ec) return self->Close();
                     self->out_.pop_front();
                     self->WriteNext();
                   });
}

template <class Stream>
void StreamSession<Stream>::WatchForDisconnect() {
  if (closed_) return;
  // A streaming client sends nothing; any completion here means it closed
  // (EOF/reset) or sent garbage — either way the stream is over.
  Tcp().socket().async_read_some(net::buffer(probe_),
                                 [self = Self()](beast::error_code, size_t) { self->Close(); });
}

// Notices a client that goes away (EOF or reset) while request `generation`
// awaits its answer, without consuming a byte: a pipelined next request stays
// in the socket for the next Read. A half-close by the client counts as gone.
template <class Stream>
void StreamSession<Stream>::WatchPendingRequest(uint64_t generation) {
  Tcp().socket().async_wait(
      tcp::socket::wait_read, [self = Self(), generation](beast::error_code ec) {
        if (self->closed_ || generation != self->request_generation_) return;
        // Aborted: the read deadline cancelled the socket's operations; the read
        // path answers (408) or closes, not this watch.
        if (ec == net::error::operation_aborted) return;
        if (ec) return self->Close();
        char byte;
        const ssize_t n =
            ::recv(self->Tcp().socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
          return self->WatchPendingRequest(generation);  // woke up without data
        }
        if (n <= 0) return self->Close();  // EOF or a reset: the client is gone
        // n > 0: the next request arrived; it is read once this one is answered.
      });
}

template <class Stream>
void StreamSession<Stream>::Close() {
  if (closed_.exchange(true)) return;
  read_timer_.cancel();
  beast::error_code ignored;
  Tcp().socket().shutdown(tcp::socket::shutdown_both, ignored);
  Tcp().socket().close(ignored);
  std::function<void()> cb;
  {
    std::lock_guard lock(cb_mu_);
    cb = std::move(on_disconnect_);
    on_disconnect_ = nullptr;
  }
  if (cb) cb();
  server_->Unregister(this);
}

// Runs the event loop until it is stopped. An exception out of a completion
// handler would end the thread (and std::terminate the process): it is logged
// and the loop goes on serving the other connections.
void HttpServer::Impl::RunIoThread() {
  for (;;) {
    try {
      ioc.run();
      return;  // stopped
    } catch (const std::exception& e) {
      Logger("http")->error("I/O thread caught: {}", e.what());
    } catch (...) {
      Logger("http")->error("I/O thread caught a non-standard exception");
    }
  }
}

void HttpServer::Impl::Unregister(Session* s) {
  std::lock_guard lock(mu);
  sessions.erase(s);
}

void HttpServer::Impl::Accept() {
  acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
    if (stopping) return;
    if (!ec) {
      std::shared_ptr<Session> session;
      if (tls) {
        session = std::make_shared<StreamSession<TlsStream>>(std::move(socket), this);
      } else {
        session = std::make_shared<StreamSession<PlainStream>>(std::move(socket), this);
      }
      size_t open = 0;
      {
        std::lock_guard lock(mu);
        open = sessions.size();
        sessions[session.get()] = session;
      }
      if (open >= options.max_connections) {
        refused.fetch_add(1);
        session->StartRefused();
      } else {
        session->Start();
      }
    }
    Accept();
  });
}

HttpServer::HttpServer(ServerOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

HttpServer::~HttpServer() { Shutdown(); }

void HttpServer::Route(const std::string& method, const std::string& path, Handler handler) {
  impl_->routes[{method, path}] = std::move(handler);
}

namespace {

// The TLS server context of `o` (TLS 1.2 and later), or an error naming the file
// that cannot be used.
StatusOr<std::unique_ptr<net::ssl::context>> MakeTlsContext(const ServerOptions& o) {
  auto ctx = std::make_unique<net::ssl::context>(net::ssl::context::tls_server);
  ctx->set_options(net::ssl::context::default_workarounds | net::ssl::context::no_sslv2 |
                   net::ssl::context::no_sslv3 | net::ssl::context::no_tlsv1 |
                   net::ssl::context::no_tlsv1_1 | net::ssl::context::single_dh_use);
  beast::error_code ec;
  ctx->use_certificate_chain_file(o.tls_cert_file, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("https certificate '", o.tls_cert_file, "': ", ec.message()));
  }
  ctx->use_private_key_file(o.tls_key_file, net::ssl::context::pem, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("https key '", o.tls_key_file, "': ", ec.message()));
  }
  return ctx;
}

}  // namespace

Status HttpServer::Start() {
  if (impl_->options.tls_cert_file.empty() != impl_->options.tls_key_file.empty()) {
    return absl::InvalidArgumentError("https needs both a certificate and a key file");
  }
  if (!impl_->options.tls_cert_file.empty()) {
    auto ctx = MakeTlsContext(impl_->options);
    if (!ctx.ok()) return ctx.status();
    impl_->tls = std::move(*ctx);
  }
  beast::error_code ec;
  auto address = net::ip::make_address(impl_->options.address, ec);
  if (ec)
    return absl::InvalidArgumentError("http address '" + impl_->options.address +
                                      "': " + ec.message());
  tcp::endpoint endpoint(address, impl_->options.port);
  auto& a = impl_->acceptor;
  a.open(endpoint.protocol(), ec);
  if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(endpoint, ec);
  if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("http: cannot listen on ", impl_->options.address,
                                               ":", impl_->options.port, ": ", ec.message()));
  }
  impl_->port = a.local_endpoint().port();
  impl_->work.emplace(net::make_work_guard(impl_->ioc));
  impl_->Accept();
  for (int i = 0; i < std::max(1, impl_->options.io_threads); ++i) {
    impl_->threads.emplace_back([this] { impl_->RunIoThread(); });
  }
  return Status();
}

uint16_t HttpServer::port() const { return impl_->port; }

uint64_t HttpServer::RefusedConnections() const { return impl_->refused.load(); }

uint64_t HttpServer::TlsHandshakeFailures() const { return impl_->tls_handshake_failures.load(); }

size_t HttpServer::OpenConnections() const {
  std::lock_guard lock(impl_->mu);
  return impl_->sessions.size();
}

void HttpServer::Shutdown() {
  if (impl_->stopping.exchange(true)) return;
  net::post(impl_->ioc, [this] {
    beast::error_code ignored;
    impl_->acceptor.close(ignored);
  });
  std::vector<std::shared_ptr<Session>> open;
  {
    std::lock_guard lock(impl_->mu);
    for (auto& [ptr, weak] : impl_->sessions) {
      if (auto s = weak.lock()) open.push_back(std::move(s));
    }
  }
  for (auto& s : open) s->CloseFromAnyThread();
  // Let the closes (and their disconnect callbacks) run, then stop the loop.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (OpenConnections() > 0 && std::chrono::steady_clock::now() < deadline &&
         !impl_->threads.empty()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  impl_->work.reset();
  impl_->ioc.stop();
  for (auto& t : impl_->threads) t.join();
  impl_->threads.clear();
}

}  // namespace kvc::http

#include "src/http/internal/client_tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "absl/strings/str_cat.h"
#include "kvc/http/client.h"

namespace kvc::http {
namespace {

struct CtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using CtxPtr = std::shared_ptr<SSL_CTX>;

std::string OpenSslError() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

StatusOr<CtxPtr> MakeContext(const ClientTlsOptions& o) {
  CtxPtr ctx(SSL_CTX_new(TLS_client_method()), CtxDeleter());
  if (!ctx) return absl::InternalError("SSL_CTX_new: " + OpenSslError());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // A server that closes without close_notify ends the body like a plain EOF
  // (framing still catches a cut chunked or length-delimited body).
  SSL_CTX_set_options(ctx.get(), SSL_OP_IGNORE_UNEXPECTED_EOF);
  const int loaded = o.ca_file.empty()
                         ? SSL_CTX_set_default_verify_paths(ctx.get())
                         : SSL_CTX_load_verify_locations(ctx.get(), o.ca_file.c_str(), nullptr);
  if (loaded != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("tls.ca_file '", o.ca_file, "': ", OpenSslError()));
  }
  if (o.cert_file.empty() != o.key_file.empty()) {
    return absl::InvalidArgumentError("tls.cert_file and tls.key_file go together");
  }
  if (!o.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), o.cert_file.c_str()) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("tls.cert_file '", o.cert_file, "': ", OpenSslError()));
    }
    if (SSL_CTX_use_PrivateKey_file(ctx.get(), o.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx.get()) != 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("tls.key_file '", o.key_file, "': ", OpenSslError()));
    }
  }
  return ctx;
}

std::mutex g_mu;
CtxPtr g_ctx;  // guarded by g_mu; null = not made yet (system roots, no client certificate)

StatusOr<CtxPtr> CurrentContext() {
  std::lock_guard lock(g_mu);
  if (!g_ctx) {
    KVC_ASSIGN_OR_RETURN(g_ctx, MakeContext({}));
  }
  return g_ctx;
}

int MillisUntil(internal::SteadyClock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - internal::SteadyClock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

bool IsIpAddress(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

Status SetClientTls(const ClientTlsOptions& options) {
  KVC_ASSIGN_OR_RETURN(CtxPtr ctx, MakeContext(options));
  std::lock_guard lock(g_mu);
  g_ctx = std::move(ctx);
  return Status();
}

namespace internal {

struct TlsConnection::State {
  CtxPtr ctx;  // keeps the context alive for the session
  SSL* ssl = nullptr;
  int fd = -1;
  ~State() {
    if (ssl != nullptr) SSL_free(ssl);
  }
  // Waits for what SSL_get_error `err` asks for. False on timeout.
  bool Wait(int err, int timeout_ms) const {
    pollfd p{fd, static_cast<short>(err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN), 0};
    int rc;
    do {
      rc = poll(&p, 1, timeout_ms);
    } while (rc < 0 && errno == EINTR);
    return rc == 1;
  }
};

TlsConnection::TlsConnection(std::unique_ptr<State> state) : state_(std::move(state)) {}
TlsConnection::~TlsConnection() = default;

StatusOr<std::unique_ptr<TlsConnection>> TlsConnection::Handshake(
    int fd, const std::string& host, SteadyClock::time_point deadline) {
  auto st = std::make_unique<State>();
  KVC_ASSIGN_OR_RETURN(st->ctx, CurrentContext());
  st->fd = fd;
  st->ssl = SSL_new(st->ctx.get());
  if (st->ssl == nullptr) return absl::InternalError("SSL_new: " + OpenSslError());
  SSL_set_fd(st->ssl, fd);
  X509_VERIFY_PARAM* param = SSL_get0_param(st->ssl);
  if (IsIpAddress(host)) {
    X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
  } else {
    SSL_set_tlsext_host_name(st->ssl, host.c_str());
    SSL_set1_host(st->ssl, host.c_str());
  }
  while (true) {
    const int rc = SSL_connect(st->ssl);
    if (rc == 1) break;
    const int err = SSL_get_error(st->ssl, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      if (!st->Wait(err, MillisUntil(deadline))) {
        return absl::DeadlineExceededError(absl::StrCat("TLS handshake with ", host, " timed out"));
      }
      continue;
    }
    const long verify = SSL_get_verify_result(st->ssl);
    std::string why = verify != X509_V_OK ? X509_verify_cert_error_string(verify) : OpenSslError();
    return absl::UnavailableError(absl::StrCat("TLS handshake with ", host, ": ", why));
  }
  return std::unique_ptr<TlsConnection>(new TlsConnection(std::move(st)));
}

Status TlsConnection::SendAll(const std::string& data, SteadyClock::time_point deadline) {
  size_t sent = 0;
  while (sent < data.size()) {
    const int rc = SSL_write(state_->ssl, data.data() + sent, static_cast<int>(data.size() - sent));
    if (rc > 0) {
      sent += static_cast<size_t>(rc);
      continue;
    }
    const int err = SSL_get_error(state_->ssl, rc);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
      return absl::UnavailableError("connection closed while sending the request: " +
                                    OpenSslError());
    }
    if (!state_->Wait(err, MillisUntil(deadline))) {
      return absl::DeadlineExceededError("sending the request timed out");
    }
  }
  return Status();
}

StatusOr<size_t> TlsConnection::ReadSome(char* buf, size_t cap,
                                         SteadyClock::time_point total_deadline,
                                         std::chrono::milliseconds idle) {
  while (true) {
    const int rc = SSL_read(state_->ssl, buf, static_cast<int>(cap));
    if (rc > 0) return static_cast<size_t>(rc);
    const int err = SSL_get_error(state_->ssl, rc);
    if (err == SSL_ERROR_ZERO_RETURN) return size_t{0};
    if (err == SSL_ERROR_SYSCALL && errno == 0) return size_t{0};
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
      return absl::UnavailableError("connection reset: " + OpenSslError());
    }
    const int left = MillisUntil(total_deadline);
    if (left == 0) return absl::DeadlineExceededError("request deadline exceeded");
    if (!state_->Wait(err, std::min<int>(left, static_cast<int>(idle.count())))) {
      if (MillisUntil(total_deadline) == 0) {
        return absl::DeadlineExceededError("request deadline exceeded");
      }
      return absl::DeadlineExceededError("server sent nothing within the idle timeout");
    }
  }
}

}  // namespace internal
}  // namespace kvc::http

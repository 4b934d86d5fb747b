// TLS for the blocking HTTP client (client.cc): an OpenSSL session over an
// already connected non-blocking socket, every wait bounded by poll() with the
// caller's deadlines, the server's certificate verified against the process's
// client CA (SetClientTls; system roots by default) and the host name or IP
// address the client dialled.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "kvc/common/status.h"

namespace kvc::http::internal {

using SteadyClock = std::chrono::steady_clock;

class TlsConnection {
 public:
  // Handshakes on `fd` (borrowed; must outlive the connection) within `deadline`.
  // UNAVAILABLE naming the reason (certificate not trusted, wrong host, not TLS)
  // or DEADLINE_EXCEEDED.
  static StatusOr<std::unique_ptr<TlsConnection>> Handshake(int fd, const std::string& host,
                                                            SteadyClock::time_point deadline);
  ~TlsConnection();
  TlsConnection(const TlsConnection&) = delete;
  TlsConnection& operator=(const TlsConnection&) = delete;

  Status SendAll(const std::string& data, SteadyClock::time_point deadline);
  // What arrived within the idle and total deadlines; 0 = the server closed.
  StatusOr<size_t> ReadSome(char* buf, size_t cap, SteadyClock::time_point total_deadline,
                            std::chrono::milliseconds idle);

 private:
  struct State;
  explicit TlsConnection(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
};

}  // namespace kvc::http::internal

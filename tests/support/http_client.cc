#include "tests/support/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>

#include "kvc/common/loopback_socket.h"

namespace kvc::testing {
namespace {

std::string Dechunk(const std::string& in) {
  std::string out;
  size_t pos = 0;
  while (pos < in.size()) {
    const size_t eol = in.find("\r\n", pos);
    if (eol == std::string::npos) break;
    const size_t len = std::strtoul(in.substr(pos, eol - pos).c_str(), nullptr, 16);
    if (len == 0) break;
    out += in.substr(eol + 2, len);
    pos = eol + 2 + len + 2;
  }
  return out;
}

}  // namespace

HttpResponse HttpRequest(int port, const std::string& method, const std::string& path,
                         const std::string& body, const std::vector<std::string>& extra_headers,
                         std::chrono::milliseconds timeout) {
  HttpResponse out;
  const int fd = ConnectLoopback(port, timeout);
  if (fd < 0) return out;
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  for (const auto& h : extra_headers) req += h + "\r\n";
  if (!body.empty() || method == "POST") {
    req +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n" + body;
  if (write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) {
    close(fd);
    return out;
  }
  std::string raw;
  char buf[8192];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) raw.append(buf, n);
  close(fd);
  const size_t split = raw.find("\r\n\r\n");
  if (raw.rfind("HTTP/1.1 ", 0) != 0 || split == std::string::npos) return out;
  out.status = std::atoi(raw.c_str() + 9);
  out.headers = raw.substr(0, split);
  out.body = raw.substr(split + 4);
  if (out.headers.find("Transfer-Encoding: chunked") != std::string::npos)
    out.body = Dechunk(out.body);
  return out;
}

}  // namespace kvc::testing

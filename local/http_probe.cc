#include "local/http_probe.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "kvc/common/loopback_socket.h"

namespace kvc::local {

int HttpGetStatus(int port, const std::string& path, std::chrono::milliseconds timeout) {
  const int fd = ConnectLoopback(port, timeout);
  if (fd < 0) return 0;
  int code = 0;
  const std::string req =
      "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
    char buf[64] = {};
    const ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
    // "HTTP/1.1 200 OK"
    if (n > 12 && std::strncmp(buf, "HTTP/1.", 7) == 0) code = std::atoi(buf + 9);
  }
  close(fd);
  return code;
}

}  // namespace kvc::local

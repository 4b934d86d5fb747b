// Helpers shared by the fuzz targets of tests/fuzz (docs/development.md,
// "Fuzzing"): a stream exchange with a server on loopback, and a failure that
// libFuzzer reports with the input that caused it.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace kvc::fuzz {

// A broken invariant: print it and abort (libFuzzer saves the input as a crash).
[[noreturn]] inline void Fail(const std::string& what) {
  std::fprintf(stderr, "fuzz invariant broken: %s\n", what.c_str());
  std::fflush(stderr);
  std::abort();
}
#define KVC_FUZZ_CHECK(cond, what)                                    \
  do {                                                                \
    if (!(cond)) ::kvc::fuzz::Fail(std::string(#cond ": ") + (what)); \
  } while (0)

// Connects to 127.0.0.1:`port`; -1 on failure.
inline int ConnectLoopback(uint16_t port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// Writes `input` to the connected stream socket `fd`, half-closes it, and reads
// what the server sends until it closes the connection. Reads and writes are
// interleaved (poll), so a server that answers while the input is still being
// sent cannot deadlock the exchange. Returns false when the server neither
// closed nor finished reading within `limit` (a hang, which the caller reports).
// The limit is wall time: kvc's servers here close a silent connection after 2 s,
// and 20 s leaves room for a process starved by other work on a loaded machine
// (under nice 19 beside 4 busy compilers on 2 cores, a 10 s limit fired once
// with no hang: the input answered in 19 ms when replayed).
inline bool Exchange(int fd, std::string_view input, std::string* output,
                     std::chrono::milliseconds limit = std::chrono::milliseconds(20000)) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  const auto deadline = std::chrono::steady_clock::now() + limit;
  size_t sent = 0;
  bool write_open = true;
  if (input.empty()) {
    shutdown(fd, SHUT_WR);
    write_open = false;
  }
  char buffer[16384];
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, static_cast<short>(POLLIN | (write_open ? POLLOUT : 0)), 0};
    if (poll(&p, 1, static_cast<int>(left.count())) < 0) return false;
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
      if (n == 0) return true;                                      // the server closed
      if (n < 0 && errno != EAGAIN && errno != EINTR) return true;  // reset: closed too
      if (n > 0) output->append(buffer, static_cast<size_t>(n));
    }
    if (write_open && (p.revents & POLLOUT)) {
      const ssize_t n = send(fd, input.data() + sent, input.size() - sent, MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN && errno != EINTR) {
        write_open = false;  // the server closed its side; keep reading its answer
      } else if (n > 0) {
        sent += static_cast<size_t>(n);
      }
      if (write_open && sent == input.size()) {
        shutdown(fd, SHUT_WR);
        write_open = false;
      }
    }
  }
}

}  // namespace kvc::fuzz

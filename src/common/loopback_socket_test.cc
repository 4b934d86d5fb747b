#include "kvc/common/loopback_socket.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

namespace kvc {
namespace {

// A listening socket on an ephemeral loopback port (never accepts).
int Listen(int* port) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), len) != 0 || listen(fd, 4) != 0) return -1;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  *port = ntohs(addr.sin_port);
  return fd;
}

TEST(LoopbackSocketTest, ConnectsAndEveryReadHasADeadline) {
  int port = 0;
  const int listener = Listen(&port);
  ASSERT_GE(listener, 0);
  const int fd = ConnectLoopback(port, std::chrono::milliseconds(100));
  ASSERT_GE(fd, 0);
  char c;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(recv(fd, &c, 1, 0), -1);  // nobody writes: the read gives up
  EXPECT_TRUE(errno == EAGAIN || errno == EWOULDBLOCK);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  close(fd);
  close(listener);
}

TEST(LoopbackSocketTest, NothingListeningIsMinusOne) {
  int port = 0;
  const int listener = Listen(&port);
  ASSERT_GE(listener, 0);
  close(listener);  // the port is free again, nothing accepts on it
  EXPECT_EQ(ConnectLoopback(port, std::chrono::milliseconds(100)), -1);
}

}  // namespace
}  // namespace kvc

// The TCP target's FENCE against a real engine, spoken at the wire level: an
// abandoned connection that is halfway through a write must not land its rest
// after a retry that fenced it (the cause of a late slice served after its
// batch had completed), and a fence of an unknown id is harmless.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <thread>
#include <vector>

#include "kvc/transfer/transfer_engine.h"
#include "transfer/internal/socket_util.h"
#include "transfer/internal/tcp_connection.h"
#include "transfer/internal/wire.h"

namespace kvc::transfer {
namespace {

using internal::RequestFrame;
using internal::WireOp;
using std::chrono::milliseconds;

RequestFrame Frame(WireOp op, uint64_t sequence, uint64_t address, uint64_t length) {
  RequestFrame f;
  f.op = static_cast<uint8_t>(op);
  f.sequence = sequence;
  f.address = address;
  f.length = length;
  return f;
}

struct Target {
  std::unique_ptr<SegmentDirectory> directory = MakeInProcessSegmentDirectory();
  std::vector<char> region = std::vector<char>(1 << 16, 'x');
  std::unique_ptr<TransferEngine> engine;
  std::string endpoint;

  void Start() {
    auto e = CreateTransferEngine({}, directory.get());
    ASSERT_TRUE(e.ok()) << e.status();
    engine = std::move(*e);
    ASSERT_TRUE(engine->RegisterMemory(region.data(), region.size(), "cpu:0", true).ok());
    endpoint = engine->LocalSegment().tcp_endpoints.at(0);
  }
  // A connected, authenticated socket named `id`.
  int Connect(uint64_t id) {
    auto fd = internal::ConnectTcp(endpoint, milliseconds(2000));
    EXPECT_TRUE(fd.ok()) << fd.status();
    EXPECT_TRUE(internal::AuthenticateClient(*fd, endpoint, "kvc-dev-token").ok());
    RequestFrame set_id = Frame(WireOp::kSetId, 0, id, 0);
    EXPECT_TRUE(internal::SendAll(*fd, &set_id, sizeof(set_id)).ok());
    return *fd;
  }
  uint64_t Address() const { return reinterpret_cast<uint64_t>(region.data()); }
};

// Writes `bytes` of `fill` at the region start on `fd` and waits for the OK.
void Write(int fd, uint64_t address, uint64_t bytes, char fill, uint64_t sequence) {
  std::vector<char> payload(bytes, fill);
  RequestFrame write = Frame(WireOp::kWrite, sequence, address, bytes);
  ASSERT_TRUE(internal::SendAll(fd, &write, sizeof(write)).ok());
  ASSERT_TRUE(internal::SendAll(fd, payload.data(), payload.size()).ok());
  internal::ResponseFrame reply;
  ASSERT_TRUE(internal::RecvAll(fd, &reply, sizeof(reply)).ok());
  EXPECT_EQ(reply.code, 0u);
  EXPECT_EQ(reply.sequence, sequence);
}

TEST(TransferTcpFenceTest, AbandonedHalfWriteNeverLandsAfterTheFencedRetry) {
  Target t;
  ASSERT_NO_FATAL_FAILURE(t.Start());
  constexpr uint64_t kBytes = 4096, kHead = 100;
  const int a = t.Connect(0xA);
  RequestFrame write = Frame(WireOp::kWrite, 0, t.Address(), kBytes);
  std::vector<char> first(kBytes, 'A');
  ASSERT_TRUE(internal::SendAll(a, &write, sizeof(write)).ok());
  ASSERT_TRUE(internal::SendAll(a, first.data(), kHead).ok());  // then "the path breaks"
  // Not a synchronisation: a pause that makes the target likely to be inside
  // A's write when the fence comes. The assertions below hold in either order.
  std::this_thread::sleep_for(milliseconds(50));

  const int b = t.Connect(0xB);
  RequestFrame fence = Frame(WireOp::kFence, 0, 0xA, 0);
  ASSERT_TRUE(internal::SendAll(b, &fence, sizeof(fence)).ok());
  ASSERT_NO_FATAL_FAILURE(Write(b, t.Address(), kBytes, 'B', 0));  // the retry

  (void)internal::SendAll(a, first.data() + kHead, kBytes - kHead);  // the late rest of A
  // Wait until the target has closed A (done with it: nothing of A can land
  // later), not for a fixed time that a slow machine could outlast.
  timeval tv{5, 0};
  setsockopt(a, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  char byte;
  const ssize_t n = recv(a, &byte, 1, 0);
  const int err = errno;
  ASSERT_LE(n, 0) << "the fenced connection sent data";
  ASSERT_TRUE(n == 0 || (err != EAGAIN && err != EWOULDBLOCK))
      << "the target did not close the fenced connection within 5 s";
  for (uint64_t i = 0; i < kBytes; ++i) ASSERT_EQ(t.region[i], 'B') << "byte " << i;
  close(a);
  close(b);
}

TEST(TransferTcpFenceTest, FenceOfAnUnknownConnectionIsHarmless) {
  Target t;
  ASSERT_NO_FATAL_FAILURE(t.Start());
  const int b = t.Connect(0xB);
  RequestFrame fence = Frame(WireOp::kFence, 0, 0x1234, 0);
  ASSERT_TRUE(internal::SendAll(b, &fence, sizeof(fence)).ok());
  ASSERT_NO_FATAL_FAILURE(Write(b, t.Address(), 512, 'B', 0));
  EXPECT_EQ(t.region[511], 'B');
  EXPECT_EQ(t.region[512], 'x');
  close(b);
}

}  // namespace
}  // namespace kvc::transfer

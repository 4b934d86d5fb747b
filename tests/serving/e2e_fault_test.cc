// End to end through `kvc-local up` with faults: a decode node killed mid-stream,
// a prefill node killed, a client that disconnects mid-stream. Uses the sim
// engine (real KV memory and transfers, modelled compute time) so streams last.
#include <gtest/gtest.h>
#include <signal.h>

#include <thread>

#include "tests/serving/local_cluster.h"
#include "tests/serving/sse_client.h"
#include "tests/support/http_client.h"

namespace kvc {
namespace {

using std::chrono::milliseconds;
using testing::LocalCluster;

constexpr const char* kPrompt = "Write a very long poem about the sea, the wind and the stars.";

// The decode node currently running a request ("" when none within 3 s).
std::string BusyDecodeNode(const LocalCluster& cluster) {
  for (int i = 0; i < 60; ++i) {
    for (const auto& n : cluster.Nodes()) {
      if (n.role() == v1::NODE_ROLE_DECODE && n.load().running_requests() > 0) return n.node_id();
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  return "";
}

// Killing the decode node mid-stream ends that stream with an error event; the
// next request succeeds on the remaining decode node.
TEST(E2eFaultTest, DecodeKilledMidStream) {
  LocalCluster cluster({"--decode", "2", "--engine", "sim"});
  ASSERT_TRUE(cluster.ok()) << cluster.up_output();
  std::string killed;
  auto r = testing::PostSse(cluster.http_port(), "/v1/chat/completions",
                            testing::ChatBody(kPrompt, 2000, true), [&](const std::string&) {
                              if (killed.empty()) {
                                killed = BusyDecodeNode(cluster);
                                if (!killed.empty()) kill(cluster.Pid(killed), SIGKILL);
                              }
                              return true;
                            });
  ASSERT_FALSE(killed.empty()) << "no decode node reported a running request";
  EXPECT_EQ(r.status, 200);
  EXPECT_TRUE(testing::HasErrorEvent(r.events)) << "last event: " << r.events.back();
  auto next = testing::HttpRequest(cluster.http_port(), "POST", "/v1/chat/completions",
                                   testing::ChatBody(kPrompt, 8, false), {}, milliseconds(20000));
  EXPECT_EQ(next.status, 200) << next.body;
}

// A killed prefill node: new requests go to the other one.
TEST(E2eFaultTest, PrefillKilledRequestsGoElsewhere) {
  LocalCluster cluster({"--prefill", "2", "--engine", "sim", "--sim-time-scale", "0.01"});
  ASSERT_TRUE(cluster.ok()) << cluster.up_output();
  ASSERT_EQ(kill(cluster.Pid("prefill-0"), SIGKILL), 0);
  for (int i = 0; i < 4; ++i) {
    auto r = testing::HttpRequest(cluster.http_port(), "POST", "/v1/chat/completions",
                                  testing::ChatBody(kPrompt + std::to_string(i), 8, false), {},
                                  milliseconds(20000));
    EXPECT_EQ(r.status, 200) << "request " << i << ": " << r.body;
  }
}

struct KvUse {
  uint64_t decode_used = 0, prefill_used = 0;
  uint32_t running = 0;
};
KvUse Used(const LocalCluster& cluster) {
  KvUse u;
  for (const auto& n : cluster.Nodes()) {
    const uint64_t used = n.load().total_kv_blocks() - n.load().free_kv_blocks();
    (n.role() == v1::NODE_ROLE_DECODE ? u.decode_used : u.prefill_used) += used;
    u.running += n.load().running_requests();
  }
  return u;
}

// A client that disconnects mid-stream frees the request's KV on both workers.
TEST(E2eFaultTest, ClientDisconnectFreesKv) {
  LocalCluster cluster({"--engine", "sim"});
  ASSERT_TRUE(cluster.ok()) << cluster.up_output();
  bool saw_in_use = false;
  int events = 0;
  auto r = testing::PostSse(cluster.http_port(), "/v1/chat/completions",
                            testing::ChatBody(kPrompt, 2000, true), [&](const std::string&) {
                              if (++events < 3) return true;
                              for (int i = 0; i < 40 && !saw_in_use; ++i) {
                                saw_in_use = Used(cluster).decode_used > 0;
                                std::this_thread::sleep_for(milliseconds(50));
                              }
                              return false;  // disconnect
                            });
  ASSERT_TRUE(r.closed_early);
  ASSERT_TRUE(saw_in_use) << "the decode node never reported the request's KV in use";
  KvUse u = Used(cluster);
  for (int i = 0; i < 100 && (u.decode_used > 0 || u.prefill_used > 0 || u.running > 0); ++i) {
    std::this_thread::sleep_for(milliseconds(50));
    u = Used(cluster);
  }
  EXPECT_EQ(u.decode_used, 0u);
  EXPECT_EQ(u.prefill_used, 0u);
  EXPECT_EQ(u.running, 0u);
}

}  // namespace
}  // namespace kvc

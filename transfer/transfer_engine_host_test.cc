// Host identity and advertised addresses of real engines in this process: which
// backend a peer gets is decided by transfer.host_id (not by the shared boot id),
// fallbacks between transports are counted, bytes are counted per backend, and a
// target bound to a wildcard publishes the address peers can dial.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "kvc/common/metrics.h"
#include "kvc/transfer/transfer_engine.h"
#include "transfer/internal/process_info.h"

namespace kvc::transfer {
namespace {

using std::chrono::milliseconds;

double CounterValue(const std::string& name, const Labels& labels) {
  return MetricsRegistry::Default().GetCounter(name, "", labels).Value();
}

struct Node {
  std::vector<char> memory = std::vector<char>(1 << 20);
  std::unique_ptr<TransferEngine> engine;
};

std::unique_ptr<Node> StartNode(TransferEngineOptions options, SegmentDirectory* directory) {
  auto node = std::make_unique<Node>();
  auto engine = CreateTransferEngine(options, directory);
  EXPECT_TRUE(engine.ok()) << engine.status();
  if (!engine.ok()) return nullptr;
  node->engine = std::move(*engine);
  EXPECT_TRUE(
      node->engine->RegisterMemory(node->memory.data(), node->memory.size(), "cpu:0", true).ok());
  EXPECT_TRUE(node->engine->Publish().ok());
  return node;
}

TransferEngineOptions Named(const std::string& name, const std::string& host_id) {
  TransferEngineOptions o;
  o.segment_name = name;
  o.host_id = host_id;
  return o;
}

Status WriteAll(Node& from, SegmentHandle to, Node& target) {
  auto batch = from.engine->AllocateBatch(1);
  KVC_RETURN_IF_ERROR(batch.status());
  KVC_RETURN_IF_ERROR(from.engine->Submit(
      *batch, {{TransferOp::kWrite, from.memory.data(), to,
                reinterpret_cast<uint64_t>(target.memory.data()), from.memory.size()}}));
  Status s = from.engine->Wait(*batch, milliseconds(20000));
  KVC_RETURN_IF_ERROR(from.engine->FreeBatch(*batch));
  return s;
}

// Two engines on one kernel (one boot id) with different host ids talk TCP, as two
// network namespaces or containers must; with the same host id they use shm.
TEST(TransferEngineHostTest, HostIdDecidesSameHostNotTheBootId) {
  auto directory = MakeInProcessSegmentDirectory();
  auto a = StartNode(Named("a", "kvc-h1"), directory.get());
  auto b = StartNode(Named("b", "kvc-h2"), directory.get());
  auto c = StartNode(Named("c", "kvc-h1"), directory.get());
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(b->engine->LocalSegment().host_id, "kvc-h2");
  EXPECT_EQ(b->engine->LocalSegment().boot_id, internal::BootId());
  auto to_b = a->engine->OpenSegment("b");
  auto to_c = a->engine->OpenSegment("c");
  ASSERT_TRUE(to_b.ok() && to_c.ok());
  EXPECT_EQ(*a->engine->BackendOf(*to_b), "tcp");
  EXPECT_EQ(*a->engine->BackendOf(*to_c), "shm");
  const double tcp_before =
      CounterValue("kvc_transfer_bytes_total", {{"op", "write"}, {"backend", "tcp"}});
  ASSERT_TRUE(WriteAll(*a, *to_b, *b).ok());
  EXPECT_EQ(
      CounterValue("kvc_transfer_bytes_total", {{"op", "write"}, {"backend", "tcp"}}) - tcp_before,
      static_cast<double>(a->memory.size()));
}

// Without transfer.host_id the kernel boot id is the host identity (one host here).
TEST(TransferEngineHostTest, DefaultHostIdIsTheBootId) {
  auto directory = MakeInProcessSegmentDirectory();
  auto a = StartNode(Named("a", ""), directory.get());
  auto b = StartNode(Named("b", ""), directory.get());
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->engine->LocalSegment().host_id, internal::BootId());
  auto to_b = a->engine->OpenSegment("b");
  ASSERT_TRUE(to_b.ok());
  EXPECT_EQ(*a->engine->BackendOf(*to_b), "shm");
}

// A same-host peer whose intra-host path cannot open falls back to TCP, counted
// per (from, to); the data still arrives.
TEST(TransferEngineHostTest, FallbackFromShmToTcpIsCounted) {
  auto directory = MakeInProcessSegmentDirectory();
  auto a = StartNode(Named("a", "h"), directory.get());
  auto b = StartNode(Named("b", "h"), directory.get());
  ASSERT_TRUE(a && b);
  SegmentDescriptor stale = b->engine->LocalSegment();
  stale.name = "b-stale-pid";
  stale.pid_start_time += 1;  // as if the pid now belonged to another process
  ASSERT_TRUE(directory->Publish(stale).ok());
  const Labels labels{{"from", "shm"}, {"to", "tcp"}};
  const double before = CounterValue("kvc_transfer_backend_fallbacks_total", labels);
  auto handle = a->engine->OpenSegment("b-stale-pid");
  ASSERT_TRUE(handle.ok()) << handle.status();
  EXPECT_EQ(*a->engine->BackendOf(*handle), "tcp");
  EXPECT_EQ(CounterValue("kvc_transfer_backend_fallbacks_total", labels) - before, 1);
  a->memory.assign(a->memory.size(), 'x');
  ASSERT_TRUE(WriteAll(*a, *handle, *b).ok());
  EXPECT_EQ(b->memory[12345], 'x');
}

// Bound to 0.0.0.0, the target publishes transfer.advertise_address with the bound
// port (never 0.0.0.0), and a peer that knows only that name reaches it.
TEST(TransferEngineHostTest, WildcardListenPublishesTheAdvertisedAddress) {
  TransferEngineOptions o;
  o.listen_address = "0.0.0.0:0";
  o.advertise_address = "127.0.0.2";  // a loopback alias: dialable here, distinct from the bind
  o.host_id = "target-host";
  auto directory = MakePeerSegmentDirectory(o.cluster_token);
  auto target = StartNode(o, directory.get());
  ASSERT_TRUE(target);
  const SegmentDescriptor d = target->engine->LocalSegment();
  ASSERT_EQ(d.tcp_endpoints.size(), 1u);
  EXPECT_TRUE(d.tcp_endpoints[0].starts_with("127.0.0.2:")) << d.tcp_endpoints[0];
  EXPECT_EQ(d.name, d.tcp_endpoints[0]);
  EXPECT_NE(d.tcp_endpoints[0], "127.0.0.2:0");

  TransferEngineOptions initiator_options;
  initiator_options.listen_address = "";
  initiator_options.host_id = "initiator-host";
  auto initiator_directory = MakePeerSegmentDirectory(o.cluster_token);
  auto initiator = StartNode(initiator_options, initiator_directory.get());
  ASSERT_TRUE(initiator);
  auto handle = initiator->engine->OpenSegment(d.name);
  ASSERT_TRUE(handle.ok()) << handle.status();
  EXPECT_EQ(*initiator->engine->BackendOf(*handle), "tcp");
  initiator->memory.assign(initiator->memory.size(), 'y');
  ASSERT_TRUE(WriteAll(*initiator, *handle, *target).ok());
  EXPECT_EQ(target->memory[777], 'y');
}

// Without an advertise address a wildcard bind publishes loopback, not 0.0.0.0.
TEST(TransferEngineHostTest, WildcardWithoutAdvertisePublishesLoopback) {
  TransferEngineOptions o;
  o.listen_address = "0.0.0.0:0";
  auto directory = MakeInProcessSegmentDirectory();
  auto node = StartNode(o, directory.get());
  ASSERT_TRUE(node);
  EXPECT_TRUE(node->engine->LocalSegment().tcp_endpoints[0].starts_with("127.0.0.1:"));
}

// Bad advertise addresses are refused at start with the field named.
TEST(TransferEngineHostTest, BadAdvertiseAddressesAreRefused) {
  for (const char* bad : {"0.0.0.0", "node-a.example", "10.0.0.1:0", "10.0.0.1:70000", ":5"}) {
    TransferEngineOptions o;
    o.advertise_address = bad;
    Status s = ValidateTransferEngineOptions(o);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_NE(s.message().find("transfer.advertise_address"), std::string::npos) << s;
  }
  TransferEngineOptions good;
  good.advertise_address = "10.0.0.1:4100";
  EXPECT_TRUE(ValidateTransferEngineOptions(good).ok());
  good.advertise_address = "10.0.0.1";
  EXPECT_TRUE(ValidateTransferEngineOptions(good).ok());
}

// What a role publishes is checked against where its cluster is.
TEST(TransferEngineHostTest, RolesRefuseLoopbackWhenTheClusterIsRemote) {
  TransferEngineOptions o;  // 127.0.0.1:0
  EXPECT_TRUE(CheckTransferAdvertise(o, {"127.0.0.1:50052"}).ok());
  EXPECT_EQ(CheckTransferAdvertise(o, {"10.0.0.1:50052"}).code(),
            absl::StatusCode::kInvalidArgument);
  o.listen_address = "0.0.0.0:0";
  Status s = CheckTransferAdvertise(o, {"10.0.0.1:50052"});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("0.0.0.0:0"), std::string::npos) << s;
  o.advertise_address = DefaultTransferAdvertise(o, "10.0.0.2:50061");
  EXPECT_EQ(o.advertise_address, "10.0.0.2");
  EXPECT_TRUE(CheckTransferAdvertise(o, {"10.0.0.1:50052"}).ok());
  // A specific bind is kept: the default never publishes an address not bound.
  TransferEngineOptions specific;
  specific.listen_address = "10.0.0.3:0";
  EXPECT_EQ(DefaultTransferAdvertise(specific, "10.0.0.2:50061"), "");
  EXPECT_EQ(PublishedTransferHost(specific), "10.0.0.3");
  TransferEngineOptions none;
  none.listen_address = "";
  EXPECT_TRUE(CheckTransferAdvertise(none, {"10.0.0.1:50052"}).ok());
}

}  // namespace
}  // namespace kvc::transfer

namespace kvc::transfer {
namespace {

// A burst of concurrent fetches of one new peer's segment shares one connection:
// with the target allowing only 2 connections per peer address, 32 threads
// fetching at once all get the descriptor (each opening its own connection, most
// would be dropped by the per-peer cap).
TEST(TransferEngineHostTest, ConcurrentFetchesOfOneSegmentShareOneConnection) {
  TransferEngineOptions o;
  o.tcp_max_connections_per_peer = 2;
  auto target_directory = MakeInProcessSegmentDirectory();
  auto target = StartNode(o, target_directory.get());
  ASSERT_TRUE(target);
  const std::string name = target->engine->LocalSegment().name;
  auto directory = MakePeerSegmentDirectory(o.cluster_token);
  constexpr int kThreads = 32;
  std::vector<Status> results(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) {
    threads.emplace_back([&, i] { results[i] = directory->Fetch(name).status(); });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kThreads; ++i) EXPECT_TRUE(results[i].ok()) << i << ": " << results[i];
}

}  // namespace
}  // namespace kvc::transfer

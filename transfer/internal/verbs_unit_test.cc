// Unit tests of the verbs backend's pure logic (handshake encoding, NIC and path
// order, backend choice, completion → status) and of the VerbsContext at the
// fake device seam.
#include <gtest/gtest.h>

#include <thread>

#include "transfer/internal/topology.h"
#include "transfer/internal/verbs_context.h"
#include "transfer/internal/verbs_paths.h"
#include "transfer/internal/verbs_wire.h"
#include "transfer/testing/verbs_fake.h"

namespace kvc::transfer::internal {
namespace {

using std::chrono::milliseconds;

VerbsAddress Address() {
  VerbsAddress a;
  a.qpn = 0xABCDEF;
  a.psn = 0x123456;
  a.lid = 77;
  a.mtu = 5;
  a.port = 1;
  for (size_t i = 0; i < a.gid.size(); ++i) a.gid[i] = static_cast<uint8_t>(i * 3);
  return a;
}

TEST(VerbsWireTest, RequestAndReplyRoundTrip) {
  VerbsConnectRequest r{"mlx5_0", "mlx5_1", Address()};
  auto bytes = EncodeVerbsRequest(r);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(bytes->size(), kVerbsRequestBytes);
  auto back = DecodeVerbsRequest(*bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(*back, r);
  auto reply = EncodeVerbsReply(Address());
  ASSERT_TRUE(reply.ok());
  EXPECT_EQ(reply->size(), kVerbsReplyBytes);
  auto address = DecodeVerbsReply(*reply);
  ASSERT_TRUE(address.ok()) << address.status();
  EXPECT_EQ(*address, Address());
}

// Every malformed message is refused with INVALID_ARGUMENT, never read past its end.
TEST(VerbsWireTest, MalformedMessagesAreRefused) {
  const std::string good = *EncodeVerbsRequest({"a", "b", Address()});
  auto refused = [](const StatusOr<VerbsConnectRequest>& r) {
    return r.status().code() == absl::StatusCode::kInvalidArgument;
  };
  EXPECT_TRUE(refused(DecodeVerbsRequest("")));
  EXPECT_TRUE(refused(DecodeVerbsRequest(good.substr(0, good.size() - 1))));
  EXPECT_TRUE(refused(DecodeVerbsRequest(good + "x")));
  std::string bad_magic = good;
  bad_magic[0] ^= 1;
  EXPECT_TRUE(refused(DecodeVerbsRequest(bad_magic)));
  std::string bad_version = good;
  bad_version[4] = 9;
  EXPECT_NE(DecodeVerbsRequest(bad_version).status().message().find("version"),
            absl::string_view::npos);
  std::string unterminated = good;
  for (size_t i = 8; i < 8 + kVerbsNicNameBytes; ++i) unterminated[i] = 'x';
  EXPECT_TRUE(refused(DecodeVerbsRequest(unterminated)));
  std::string empty_nic = good;
  empty_nic[8] = '\0';
  EXPECT_TRUE(refused(DecodeVerbsRequest(empty_nic)));
  std::string bad_mtu = good;
  bad_mtu[8 + 2 * kVerbsNicNameBytes + 10] = 6;
  EXPECT_TRUE(refused(DecodeVerbsRequest(bad_mtu)));
  std::string big_qpn = good;
  big_qpn[8 + 2 * kVerbsNicNameBytes + 3] = 1;  // bit 24 of the qpn
  EXPECT_TRUE(refused(DecodeVerbsRequest(big_qpn)));
  EXPECT_FALSE(DecodeVerbsReply(good).ok());  // a request is not a reply
}

TEST(VerbsWireTest, EncodeRefusesBadFields) {
  EXPECT_FALSE(EncodeVerbsRequest({"", "b", Address()}).ok());
  EXPECT_FALSE(EncodeVerbsRequest({std::string(64, 'n'), "b", Address()}).ok());
  EXPECT_TRUE(EncodeVerbsRequest({std::string(63, 'n'), "b", Address()}).ok());
  VerbsAddress a = Address();
  a.mtu = 0;
  EXPECT_FALSE(EncodeVerbsReply(a).ok());
  a = Address();
  a.psn = 1u << 24;
  EXPECT_FALSE(EncodeVerbsReply(a).ok());
}

TEST(VerbsCompletionTest, StatusPerCode) {
  auto code = [](VerbsCompletionCode c) { return CompletionStatus({1, c, "x"}, "p").code(); };
  EXPECT_EQ(code(VerbsCompletionCode::kOk), absl::StatusCode::kOk);
  EXPECT_EQ(code(VerbsCompletionCode::kRemoteAccess), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(code(VerbsCompletionCode::kFlushed), absl::StatusCode::kUnavailable);
  EXPECT_EQ(code(VerbsCompletionCode::kRetryExceeded), absl::StatusCode::kUnavailable);
  EXPECT_EQ(code(VerbsCompletionCode::kOther), absl::StatusCode::kUnavailable);
  EXPECT_NE(CompletionStatus({1, VerbsCompletionCode::kOther, "boom"}, "nic0 qp 4")
                .message()
                .find("nic0 qp 4"),
            absl::string_view::npos);
}

Topology TwoByTwo() {
  auto t = Topology::FromJson(R"({"cpu:0":{"preferred":["m0","m1"],"secondary":["m2","m3"]},
                                  "cuda:0":{"preferred":["m3"],"secondary":["m0"]}})");
  EXPECT_TRUE(t.ok());
  return *t;
}

using Names = std::vector<std::string>;

// Preferred NICs first, rotated per slice; secondary ones after, also rotated.
TEST(VerbsNicOrderTest, PreferredFirstRotatedWithinGroups) {
  const Names all = {"m0", "m1", "m2", "m3"};
  EXPECT_EQ(OrderNics(TwoByTwo(), "cpu:0", all, 0), (Names{"m0", "m1", "m2", "m3"}));
  EXPECT_EQ(OrderNics(TwoByTwo(), "cpu:0", all, 1), (Names{"m1", "m0", "m3", "m2"}));
  EXPECT_EQ(OrderNics(TwoByTwo(), "cpu:0", all, 2), (Names{"m0", "m1", "m2", "m3"}));
  // NICs the location does not list come last, in `available` order (rotated too).
  EXPECT_EQ(OrderNics(TwoByTwo(), "cuda:0", all, 0), (Names{"m3", "m0", "m1", "m2"}));
  EXPECT_EQ(OrderNics(TwoByTwo(), "cuda:0", all, 1), (Names{"m3", "m0", "m2", "m1"}));
}

// Only available NICs appear; an unknown location uses all of them.
TEST(VerbsNicOrderTest, RestrictedToAvailableAndUnknownLocation) {
  EXPECT_EQ(OrderNics(TwoByTwo(), "cpu:0", {"m3", "m1"}, 0), (Names{"m1", "m3"}));
  EXPECT_EQ(OrderNics(TwoByTwo(), "cpu:7", {"x", "y"}, 1), (Names{"y", "x"}));
  EXPECT_EQ(OrderNics(Topology{}, "cpu:0", {"x"}, 5), (Names{"x"}));
  EXPECT_TRUE(OrderNics(TwoByTwo(), "cpu:0", {}, 0).empty());
}

TEST(VerbsPathOrderTest, LocalThenRemoteThenRotatedQp) {
  auto paths = OrderVerbsPaths({1, 0}, {0}, 2, 1);
  ASSERT_EQ(paths.size(), 4u);
  EXPECT_EQ(paths[0], (VerbsPathId{1, 0, 1}));
  EXPECT_EQ(paths[1], (VerbsPathId{1, 0, 0}));
  EXPECT_EQ(paths[2], (VerbsPathId{0, 0, 1}));
  EXPECT_EQ(paths[3], (VerbsPathId{0, 0, 0}));
  EXPECT_TRUE(OrderVerbsPaths({}, {0, 1}, 2, 0).empty());
  EXPECT_EQ(IndicesOf({"b", "zz", "a"}, {"a", "b"}), (std::vector<size_t>{1, 0}));
}

// ---- VerbsContext at the fake seam ----

class Sink : public VerbsWorkOwner {
 public:
  void OnWorkDone(Slice* slice, size_t path, const std::shared_ptr<VerbsQp>& qp, Status status,
                  bool timed_out) override {
    std::lock_guard lock(mu);
    results.push_back(status);
    timeouts.push_back(timed_out);
    done.notify_all();
  }
  bool WaitFor(size_t n, milliseconds timeout) {
    std::unique_lock lock(mu);
    return done.wait_for(lock, timeout, [&] { return results.size() >= n; });
  }
  std::mutex mu;
  std::condition_variable done;
  std::vector<Status> results;
  std::vector<bool> timeouts;
};

// Two contexts on one fake fabric, a 64-byte region each (the target's remote-
// accessible), one initiator QP on NIC 0 connected to the target through
// Accept(connection), and a 64-byte write from local to remote ready to post.
struct ConnectedPair {
  std::shared_ptr<VerbsContext> context, target;
  std::vector<char> local = std::vector<char>(64), remote = std::vector<char>(64);
  std::shared_ptr<VerbsQp> qp;
  VerbsWork work;
};

void Connect(testing::FakeVerbsFabric& fabric, const VerbsContext::Options& options,
             uint64_t connection, ConnectedPair* p) {
  auto context = VerbsContext::Create(fabric, options);
  auto target = VerbsContext::Create(fabric, options);
  ASSERT_TRUE(context.ok() && target.ok());
  p->context = *context;
  p->target = *target;
  ASSERT_TRUE(
      p->context->Register(reinterpret_cast<uint64_t>(p->local.data()), 64, "cpu:0", false).ok());
  ASSERT_TRUE(
      p->target->Register(reinterpret_cast<uint64_t>(p->remote.data()), 64, "cpu:0", true).ok());
  auto qp = p->context->CreateQueuePair(0);
  ASSERT_TRUE(qp.ok());
  p->qp = *qp;
  auto reply = p->target->Accept(connection, *EncodeVerbsRequest({"f0", "f0", p->qp->qp->local()}));
  ASSERT_TRUE(reply.ok());
  ASSERT_TRUE(p->qp->qp->Connect(*DecodeVerbsReply(*reply)).ok());
  p->work.write = true;
  p->work.local = reinterpret_cast<uint64_t>(p->local.data());
  p->work.length = 64;
  p->work.lkey = (*p->context->LocalKey(0, p->work.local, 64)).first;
  p->work.remote = reinterpret_cast<uint64_t>(p->remote.data());
  p->work.rkey = p->target->RemoteKeys(p->work.remote)["f0"];
}

TEST(VerbsContextTest, RegistersOnEveryNicAndChecksLocalRanges) {
  testing::FakeVerbsFabric fabric({"f0", "f1"});
  auto context = VerbsContext::Create(fabric, {});
  ASSERT_TRUE(context.ok()) << context.status();
  std::vector<char> a(4096), b(4096);
  const auto addr = reinterpret_cast<uint64_t>(a.data());
  ASSERT_TRUE((*context)->Register(addr, a.size(), "cpu:0", true).ok());
  ASSERT_TRUE(
      (*context)->Register(reinterpret_cast<uint64_t>(b.data()), 4096, "cpu:1", false).ok());
  auto keys = (*context)->RemoteKeys(addr);
  EXPECT_EQ(keys.size(), 2u);
  EXPECT_NE(keys["f0"], keys["f1"]);
  EXPECT_TRUE((*context)->RemoteKeys(reinterpret_cast<uint64_t>(b.data())).empty());
  auto local = (*context)->LocalKey(1, addr + 100, 3996);
  ASSERT_TRUE(local.ok());
  EXPECT_EQ(local->second, "cpu:0");
  EXPECT_FALSE((*context)->LocalKey(1, addr + 100, 3997).ok());
  (*context)->Deregister(addr);
  EXPECT_TRUE((*context)->RemoteKeys(addr).empty());
  EXPECT_EQ((*context)->LocalKey(0, addr, 1).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(VerbsContextTest, NoDeviceIsUnavailable) {
  testing::FakeVerbsFabric none({});
  auto context = VerbsContext::Create(none, {});
  EXPECT_EQ(context.status().code(), absl::StatusCode::kUnavailable);
}

// The target half: a bad request or an unknown NIC is refused; a good one
// creates a QP that lives until its connection goes.
TEST(VerbsContextTest, AcceptAndDisconnect) {
  testing::FakeVerbsFabric fabric({"f0"});
  auto target = VerbsContext::Create(fabric, {});
  auto initiator = VerbsContext::Create(fabric, {});
  ASSERT_TRUE(target.ok() && initiator.ok());
  EXPECT_EQ((*target)->Accept(1, "junk").status().code(), absl::StatusCode::kInvalidArgument);
  auto qp = (*initiator)->CreateQueuePair(0);
  ASSERT_TRUE(qp.ok());
  auto unknown = (*target)->Accept(1, *EncodeVerbsRequest({"f0", "nope", (*qp)->qp->local()}));
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kNotFound);
  auto reply = (*target)->Accept(1, *EncodeVerbsRequest({"f0", "f0", (*qp)->qp->local()}));
  ASSERT_TRUE(reply.ok()) << reply.status();
  EXPECT_TRUE(DecodeVerbsReply(*reply).ok());
  EXPECT_EQ((*target)->target_qps(), 1u);
  (*target)->Disconnect(1);
  EXPECT_EQ((*target)->target_qps(), 0u);
}

// Work with no completion is failed at its deadline: the QP goes to error, the
// flush is reported UNAVAILABLE "no completion within".
TEST(VerbsContextTest, SilentWorkFailsAtItsDeadline) {
  testing::FakeVerbsFabric fabric({"f0"});
  VerbsContext::Options options;
  options.timeout = milliseconds(200);
  ConnectedPair p;
  ASSERT_NO_FATAL_FAILURE(Connect(fabric, options, 9, &p));
  fabric.SetSilent("f0", true);
  auto sink = std::make_shared<Sink>();
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(p.context->Post(p.qp, p.work, sink, nullptr, 0).ok());
  ASSERT_TRUE(sink->WaitFor(1, milliseconds(2000)));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_GE(took, milliseconds(200));
  EXPECT_LT(took, milliseconds(1000));
  EXPECT_EQ(sink->results[0].code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(sink->timeouts[0]);
  EXPECT_NE(sink->results[0].message().find("no completion within 200 ms"), absl::string_view::npos)
      << sink->results[0];
  p.context->Drain(sink.get(), std::chrono::steady_clock::now(), absl::CancelledError("x"));
}

// The context never has more work outstanding on a NIC than its completion
// queue holds: one more is refused (RESOURCE_EXHAUSTED), nothing is posted.
TEST(VerbsContextTest, OutstandingWorkIsCappedByTheCompletionQueue) {
  testing::FakeVerbsFabric fabric({"f0"});
  fabric.SetCompletionQueueDepth(2);
  ConnectedPair p;
  ASSERT_NO_FATAL_FAILURE(Connect(fabric, {}, 3, &p));
  fabric.SetSilent("f0", true);  // nothing completes: the work stays outstanding
  auto sink = std::make_shared<Sink>();
  p.work.write = false;
  EXPECT_TRUE(p.context->Post(p.qp, p.work, sink, nullptr, 0).ok());
  EXPECT_TRUE(p.context->Post(p.qp, p.work, sink, nullptr, 0).ok());
  EXPECT_EQ(p.context->Post(p.qp, p.work, sink, nullptr, 0).code(),
            absl::StatusCode::kResourceExhausted);
  p.context->Drain(sink.get(), std::chrono::steady_clock::now(), absl::CancelledError("x"));
  EXPECT_EQ(sink->results.size(), 2u);
}

}  // namespace
}  // namespace kvc::transfer::internal

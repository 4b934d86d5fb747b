// The batch put protocol (BatchPutStart / BatchPutEnd) against a real kvc-master
// and kvc-store: per-item outcomes, limits, and a BatchPut with good and bad items.
#include <gtest/gtest.h>

#include "kvc/rpc/grpc_status.h"
#include "store/proto_convert.h"
#include "tests/store/store_cluster.h"

namespace kvc::store {
namespace {

using testing::FillPattern;
using testing::MatchesPattern;
using testing::StoreCluster;

BlockKey Key(uint64_t i) { return BlockKey{88, i}; }

std::unique_ptr<grpc::ClientContext> Deadline() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  return ctx;
}

class StoreBatchPutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    cluster_.StartMaster();
    cluster_.StartNode("n1", 16 << 20, false);
    cluster_.WaitStats([](const auto& s) { return s.nodes() == 1; });
  }
  StoreCluster cluster_;
};

// Items are answered one by one: a bad size and a duplicate key fail alone.
TEST_F(StoreBatchPutTest, EachItemIsAnsweredOnItsOwn) {
  v1::BatchPutStartRequest req;
  auto add = [&](uint64_t key, uint64_t size) {
    v1::PutStartRequest* item = req.add_items();
    ToProto(Key(key), item->mutable_key());
    item->set_size(size);
  };
  add(1, 4096);
  add(2, 0);     // bad size
  add(1, 4096);  // same key again: already being written
  add(3, 4096);
  v1::BatchPutStartResponse resp;
  ASSERT_TRUE(cluster_.stub().BatchPutStart(Deadline().get(), req, &resp).ok());
  ASSERT_EQ(resp.status_size(), 4);
  ASSERT_EQ(resp.results_size(), 4);
  EXPECT_TRUE(FromProto(resp.status(0)).ok());
  EXPECT_EQ(resp.results(0).replicas_size(), 1);
  EXPECT_EQ(FromProto(resp.status(1)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(resp.status(1).reason().empty());
  EXPECT_FALSE(FromProto(resp.status(2)).ok());
  EXPECT_EQ(resp.results(2).replicas_size(), 0);
  EXPECT_TRUE(FromProto(resp.status(3)).ok());

  v1::BatchPutEndRequest end;
  ToProto(Key(1), end.add_commit());
  ToProto(Key(9), end.add_commit());  // never started
  ToProto(Key(3), end.add_revoke());
  v1::BatchPutEndResponse ended;
  ASSERT_TRUE(cluster_.stub().BatchPutEnd(Deadline().get(), end, &ended).ok());
  ASSERT_EQ(ended.commit_status_size(), 2);
  ASSERT_EQ(ended.revoke_status_size(), 1);
  EXPECT_TRUE(FromProto(ended.commit_status(0)).ok());
  EXPECT_FALSE(FromProto(ended.commit_status(1)).ok());
  EXPECT_FALSE(ended.commit_status(1).reason().empty());
  EXPECT_TRUE(FromProto(ended.revoke_status(0)).ok());

  v1::BatchExistsRequest exists;
  for (uint64_t k : {1, 2, 3, 9}) ToProto(Key(k), exists.add_keys());
  v1::BatchExistsResponse there;
  ASSERT_TRUE(cluster_.stub().BatchExists(Deadline().get(), exists, &there).ok());
  ASSERT_EQ(there.exists_size(), 4);
  EXPECT_TRUE(there.exists(0));   // committed
  EXPECT_FALSE(there.exists(1));  // refused
  EXPECT_FALSE(there.exists(2));  // revoked
  EXPECT_FALSE(there.exists(3));  // never started
}

TEST_F(StoreBatchPutTest, OversizeBatchIsRefusedWhole) {
  v1::BatchPutStartRequest req;
  for (uint64_t i = 0; i < 4097; ++i) {
    v1::PutStartRequest* item = req.add_items();
    ToProto(Key(i), item->mutable_key());
    item->set_size(64);
  }
  v1::BatchPutStartResponse resp;
  const Status s = FromGrpcStatus(cluster_.stub().BatchPutStart(Deadline().get(), req, &resp));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReasonOf(s), "BATCH_TOO_LARGE");
  EXPECT_EQ(cluster_.WaitStats([](const auto&) { return true; }).objects(), 0u);
}

// The client's BatchPut goes through the batch calls: good items land byte-exact,
// a null item fails alone, and a second BatchPut of the same keys says they exist.
TEST_F(StoreBatchPutTest, ClientBatchPutMixesGoodAndBadItems) {
  constexpr uint64_t kSize = 16 << 10;
  auto c = cluster_.MakeClient(kSize * 6);
  std::vector<PutItem> items;
  for (uint64_t i = 0; i < 5; ++i) {
    FillPattern(c->buffer.data() + i * kSize, kSize, i);
    items.push_back(PutItem{Key(i), c->buffer.data() + i * kSize, kSize});
  }
  items.push_back(PutItem{Key(5), nullptr, kSize});
  std::vector<Status> put = c->client->BatchPut(items);
  ASSERT_EQ(put.size(), 6u);
  for (uint64_t i = 0; i < 5; ++i) EXPECT_TRUE(put[i].ok()) << i << ": " << put[i];
  EXPECT_EQ(ReasonOf(put[5]), "BAD_SIZE");
  std::vector<Status> again = c->client->BatchPut(std::span(items).first(2));
  for (const Status& s : again) EXPECT_EQ(ReasonOf(s), "OBJECT_EXISTS") << s;

  std::fill(c->buffer.begin(), c->buffer.end(), 0);
  std::vector<GetItem> gets;
  for (uint64_t i = 0; i < 6; ++i)
    gets.push_back(GetItem{Key(i), c->buffer.data() + i * kSize, kSize});
  auto got = c->client->BatchGet(gets);
  for (uint64_t i = 0; i < 5; ++i) {
    ASSERT_TRUE(got[i].ok()) << got[i].status();
    EXPECT_TRUE(MatchesPattern(c->buffer.data() + i * kSize, kSize, i)) << i;
  }
  EXPECT_EQ(ReasonOf(got[5].status()), "NOT_FOUND");
  EXPECT_EQ(cluster_.WaitStats([](const auto&) { return true; }).objects(), 5u);
}

}  // namespace
}  // namespace kvc::store

#include "kvc/rpc/service_auth.h"

#include <gtest/gtest.h>

#include "kvc/rpc/auth.h"
#include "kvc/rpc/client.h"
#include "kvc/rpc/server.h"
#include "kvc/v1/decode.grpc.pb.h"

namespace kvc {
namespace {

// Writes two messages and finishes.
class TwoMessages : public grpc::ServerWriteReactor<v1::DecodeResponse> {
 public:
  TwoMessages() { StartWrite(&msg_); }
  void OnWriteDone(bool ok) override {
    if (ok && ++sent_ < 2) {
      StartWrite(&msg_);
    } else {
      Finish(grpc::Status::OK);
    }
  }
  void OnDone() override { delete this; }

 private:
  v1::DecodeResponse msg_;
  int sent_ = 0;
};

// Counts calls that reached the service. Decode uses the callback API (as the
// real DecodeWorker does); SyncDecode the synchronous one.
class FakeDecode : public v1::Decode::WithCallbackMethod_Decode<v1::Decode::Service> {
 public:
  grpc::Status Cancel(grpc::ServerContext*, const v1::CancelRequest*,
                      v1::CancelResponse*) override {
    ++calls;
    return grpc::Status::OK;
  }
  grpc::ServerWriteReactor<v1::DecodeResponse>* Decode(grpc::CallbackServerContext*,
                                                       const v1::DecodeRequest*) override {
    ++calls;
    return new TwoMessages();
  }
  std::atomic<int> calls{0};
};

class ServiceAuthTest : public ::testing::Test {
 protected:
  void Start(const std::string& token) {
    ASSERT_TRUE(RequireClusterToken(&service_, token).ok());
    ServerOptions options;
    auto server = RunningServer::Start("test", options, {&service_});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    stub_ = v1::Decode::NewStub(MakeChannel(server_->address()));
  }
  grpc::Status CallCancel(const std::string& token) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    AddBearerToken(&ctx, token);
    v1::CancelRequest req;
    req.mutable_header()->set_request_id("r1");
    v1::CancelResponse resp;
    return stub_->Cancel(&ctx, req, &resp);
  }
  std::pair<grpc::Status, int> CallDecode(const std::string& token) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    AddBearerToken(&ctx, token);
    v1::DecodeRequest req;
    req.add_prompt_token_ids(1);
    auto reader = stub_->Decode(&ctx, req);
    v1::DecodeResponse r;
    int n = 0;
    while (reader->Read(&r)) ++n;
    return {reader->Finish(), n};
  }

  FakeDecode service_;
  std::unique_ptr<RunningServer> server_;
  std::unique_ptr<v1::Decode::Stub> stub_;
};

// The right token reaches the method; none or a wrong one never does, and each
// refusal is recorded (counted and logged, rate-limited) on the serving node.
TEST_F(ServiceAuthTest, UnaryNeedsTheToken) {
  Start("secret");
  const uint64_t refused_before = RefusedCalls();
  EXPECT_EQ(CallCancel("").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(CallCancel("wrong").error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(service_.calls.load(), 0);
  EXPECT_EQ(RefusedCalls() - refused_before, 2u);
  EXPECT_TRUE(CallCancel("secret").ok());
  EXPECT_EQ(service_.calls.load(), 1);
  EXPECT_EQ(RefusedCalls() - refused_before, 2u) << "an accepted call is not a refusal";
}

// Callback server-streaming methods are guarded the same way and still stream when allowed.
TEST_F(ServiceAuthTest, StreamingNeedsTheToken) {
  Start("secret");
  const uint64_t refused_before = RefusedCalls();
  auto [bad, bad_n] = CallDecode("nope");
  EXPECT_EQ(bad.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(bad_n, 0);
  EXPECT_EQ(RefusedCalls() - refused_before, 1u);
  auto [good, good_n] = CallDecode("secret");
  EXPECT_TRUE(good.ok()) << good.error_message();
  EXPECT_EQ(good_n, 2);
  EXPECT_EQ(service_.calls.load(), 1);
}

// An empty token leaves the service open; health never needs a token.
TEST_F(ServiceAuthTest, EmptyTokenIsOpenAndHealthIsOpen) {
  Start("");
  EXPECT_TRUE(CallCancel("").ok());
  auto health = CheckHealth(server_->address(), std::chrono::milliseconds(3000));
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, "SERVING");
}

}  // namespace
}  // namespace kvc

#include "bench/replay/replay.h"

#include <gtest/gtest.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "kvc/http/server.h"

namespace kvc::replay {
namespace {

using nlohmann::json;

trace::TraceRequest Req(int64_t index, double ts_ms, int64_t in, int64_t out,
                        std::vector<int64_t> ids) {
  trace::TraceRequest r;
  r.index = index;
  r.timestamp_ms = ts_ms;
  r.input_length = in;
  r.output_length = out;
  r.hash_ids = std::move(ids);
  return r;
}

// Equal hash ids give equal token blocks; different ids differ; lengths scale.
TEST(ReplayPromptTest, EqualIdsShareBlocks) {
  auto a = SynthesizePromptTokens(Req(0, 0, 1024, 1, {7, 8}), 1.0, 256);
  auto b = SynthesizePromptTokens(Req(1, 0, 1100, 1, {7, 9, 10}), 1.0, 256);
  ASSERT_EQ(a.size(), 1024u);
  ASSERT_EQ(b.size(), 1100u);
  EXPECT_TRUE(std::equal(a.begin(), a.begin() + 512, b.begin()));
  EXPECT_FALSE(std::equal(a.begin() + 512, a.end(), b.begin() + 512));
  auto scaled = SynthesizePromptTokens(Req(0, 0, 1024, 1, {7, 8}), 1.0 / 16, 256);
  EXPECT_EQ(scaled.size(), 64u);
  auto scaled_b = SynthesizePromptTokens(Req(1, 0, 1024, 1, {7, 9}), 1.0 / 16, 256);
  EXPECT_TRUE(std::equal(scaled.begin(), scaled.begin() + 32, scaled_b.begin()));
  for (uint32_t t : b) EXPECT_LT(t, 256u);
  EXPECT_FALSE(SynthesizePromptText(Req(0, 0, 10, 1, {1}), 1.0).empty());
}

// An in-process OpenAI-style server: streams one chunk per requested token,
// reports as cached the leading 32-token blocks it has seen before, and
// rejects prompts over 1000 tokens with 429. A one-token answer streams no visible text
// (as a special token would). A three-token answer ends after two tokens with an error event
// and no [DONE] (as the conductor ends a stream whose decode node died).
class FakeOpenAi {
 public:
  FakeOpenAi() : server_(Options()) {
    server_.Route(
        "POST", "/v1/completions",
        [this](const http::Request& r, std::shared_ptr<http::ResponseWriter> w) {
          json body = json::parse(r.body);
          std::vector<uint32_t> prompt = body["prompt"].get<std::vector<uint32_t>>();
          const int max_tokens = body["max_tokens"];
          if (prompt.size() > 1000) {
            w->Respond(429, "application/json", http::OpenAiErrorBody("busy", "rate_limit", "slo"),
                       {{"Retry-After", "1"}});
            return;
          }
          const int cached = CachedTokens(prompt);
          std::thread([w, max_tokens, cached, n = prompt.size()] {
            w->StartEventStream();
            for (int i = 0; i < max_tokens; ++i) {
              std::this_thread::sleep_for(std::chrono::milliseconds(2));
              if (max_tokens == 3 && i == 2) {
                w->SendEvent(
                    http::OpenAiErrorBody("decode node died", "server_error", "node_failed"));
                w->End();
                return;
              }
              w->SendEvent(
                  json{{"choices", {{{"index", 0}, {"text", max_tokens == 1 ? "" : "x"}}}}}.dump());
            }
            w->SendEvent(json{{"choices", json::array()},
                              {"usage",
                               {{"prompt_tokens", n},
                                {"completion_tokens", max_tokens},
                                {"prompt_tokens_details", {{"cached_tokens", cached}}}}}}
                             .dump());
            w->SendEvent("[DONE]");
            w->End();
          }).detach();
        });
    EXPECT_TRUE(server_.Start().ok());
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_.port()); }

 private:
  static http::ServerOptions Options() {
    http::ServerOptions o;
    o.port = 0;
    return o;
  }
  int CachedTokens(const std::vector<uint32_t>& prompt) {
    std::lock_guard lock(mu_);
    std::string prefix;
    int cached = 0;
    bool hit = true;
    for (size_t start = 0; start + 32 <= prompt.size(); start += 32) {
      for (size_t i = start; i < start + 32; ++i) prefix += std::to_string(prompt[i]) + ",";
      if (hit && seen_.count(prefix))
        cached += 32;
      else
        hit = false;
      seen_.insert(prefix);
    }
    return cached;
  }
  std::mutex mu_;
  std::set<std::string> seen_;
  http::HttpServer server_;
};

// Replay records TTFT, every gap, rejections and cached tokens; the summary adds up.
TEST(ReplayTest, AgainstFakeServer) {
  FakeOpenAi fake;
  std::vector<trace::TraceRequest> trace = {Req(0, 0, 512, 8, {1}), Req(1, 100, 1024, 8, {1, 2}),
                                            Req(2, 200, 1024, 4, {1, 2}),
                                            Req(3, 300, 4096, 4, {5, 6, 7, 8, 9, 10, 11, 12})};
  ReplayOptions o;
  o.url = fake.url();
  o.model = "m";
  o.speedup = 10;
  o.length_scale = 0.5;  // 4096 → 2048 tokens: over the fake's 1000 limit → 429
  o.progress = false;
  o.tbt_slo_s = 10;
  double wall = 0;
  auto records = Replay(trace, o, &wall);
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 4u);
  EXPECT_EQ((*records)[0].outcome, "ok") << (*records)[0].error;
  EXPECT_EQ((*records)[0].gaps_s.size(), 3u);  // 4 tokens at scale 0.5
  EXPECT_GT((*records)[0].ttft_s, 0);
  // Requests 0-2 share block 1 (256 tokens at scale 0.5), 1 and 2 also block 2;
  // they are sent 10 ms apart, so under load they may reach the server in any
  // order. Whatever the order, block 1 is found cached twice and block 2 once.
  int cached = 0;
  for (int i = 0; i < 3; ++i) cached += (*records)[i].cached_tokens;
  EXPECT_EQ(cached, 256 + 256 + 256);
  EXPECT_EQ((*records)[3].outcome, "rejected");
  EXPECT_EQ((*records)[3].http_status, 429);
  ReplaySummary s = Summarize(*records, o, wall);
  EXPECT_EQ(s.completed, 3);
  EXPECT_EQ(s.rejected, 1);
  EXPECT_EQ(s.errors, 0);
  EXPECT_NEAR(s.cached_token_ratio, (256.0 + 512.0) / (256 + 512 + 512), 1e-9);
  EXPECT_NEAR(s.effective_request_ratio, 0.75, 1e-9);
  EXPECT_GE(records->back().send_s, 0.029) << "sent at its timestamp / speedup";
}

// A completed stream whose only token has no visible text is a success whose first
// output reached the client at the end of the stream, not an error.
TEST(ReplayTest, TokenWithoutTextIsNotAnError) {
  FakeOpenAi fake;
  ReplayOptions o;
  o.url = fake.url();
  o.model = "m";
  o.progress = false;
  o.length_scale = 0.5;
  double wall = 0;
  auto records = Replay({Req(0, 0, 64, 2, {1})}, o, &wall);  // 2 * 0.5 → 1 token
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 1u);
  EXPECT_EQ((*records)[0].outcome, "ok") << (*records)[0].error;
  EXPECT_EQ((*records)[0].completion_tokens, 1);
  EXPECT_GT((*records)[0].ttft_s, 0);
  EXPECT_DOUBLE_EQ((*records)[0].ttft_s, (*records)[0].e2e_s);
}

// A 200 stream that ends with an error event is an error, with the event's code, even
// though tokens arrived before it; the record carries its wall-clock send time.
TEST(ReplayTest, ErrorEventEndsStreamAsError) {
  FakeOpenAi fake;
  ReplayOptions o;
  o.url = fake.url();
  o.model = "m";
  o.progress = false;
  double wall = 0;
  const double before =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto records = Replay({Req(0, 0, 64, 3, {1}), Req(1, 0, 64, 4, {2})}, o, &wall);
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[0].outcome, "error");
  EXPECT_EQ((*records)[0].http_status, 200);
  EXPECT_EQ((*records)[0].stream_error_code, "node_failed");
  EXPECT_NE((*records)[0].error.find("node_failed"), std::string::npos) << (*records)[0].error;
  EXPECT_EQ((*records)[1].outcome, "ok") << (*records)[1].error;
  EXPECT_TRUE((*records)[1].stream_error_code.empty());
  EXPECT_GE((*records)[0].send_unix_s, before);
  EXPECT_LT((*records)[0].send_unix_s, before + 60);
  EXPECT_EQ(Summarize(*records, o, wall).errors, 1);
}

// A dead server gives errors within the deadline, not a hang; bad options are refused.
TEST(ReplayTest, DeadServerAndBadOptions) {
  ReplayOptions o;
  o.url = "http://127.0.0.1:1";
  o.progress = false;
  double wall = 0;
  auto records = Replay({Req(0, 0, 16, 2, {1})}, o, &wall);
  ASSERT_TRUE(records.ok());
  EXPECT_EQ((*records)[0].outcome, "error");
  EXPECT_FALSE((*records)[0].error.empty());
  o.speedup = 0;
  EXPECT_FALSE(Replay({}, o, &wall).ok());
  o.speedup = 1;
  o.url = "ftp://x";  // https:// is accepted (TLS); other schemes are not
  EXPECT_FALSE(Replay({}, o, &wall).ok());
}

}  // namespace
}  // namespace kvc::replay

// End to end through `kvc-local up` (real master, conductor, prefill and decode
// processes on loopback, real engines and transfer engines): greedy output equals
// `kvc-model generate`, prefix reuse from the pool (same node and across nodes)
// changes nothing but cached_tokens, and bad requests get OpenAI-style errors.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "kvc/common/utf8.h"
#include "kvc/rpc/auth.h"
#include "kvc/rpc/client.h"
#include "tests/serving/local_cluster.h"
#include "tests/serving/sse_client.h"
#include "tests/support/http_client.h"

namespace kvc {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using testing::LocalCluster;

// Long enough for several 16-token blocks after the chat template.
constexpr const char* kPrompt =
    "Tell me a long story about a cat, a dog and a small red boat on a quiet lake at dawn.";

std::string KvcModelText(const std::string& model_dir, const std::string& prompt, int max_tokens) {
  testing::TempDir dir;
  const std::string out = dir.path() + "/out";
  testing::Subprocess p(
      {testing::BinDir() + "/kvc-model", "generate", "--model", model_dir, "--prompt", prompt,
       "--max-tokens", std::to_string(max_tokens), "--chat", "--json"},
      out);
  auto st = p.WaitFor(milliseconds(30000));
  if (!st || !WIFEXITED(*st) || WEXITSTATUS(*st) != 0) return "<kvc-model failed>";
  const std::string text = testing::ReadFile(out);
  auto j = json::parse(text.substr(text.find('{')), nullptr, false);
  return j.is_discarded() ? "<bad json>" : j.value("text", "");
}

json Usage(const testing::HttpResponse& r) {
  auto j = json::parse(r.body, nullptr, false);
  return j.is_discarded() ? json() : j["usage"];
}

std::string Text(const testing::HttpResponse& r) {
  auto j = json::parse(r.body, nullptr, false);
  if (j.is_discarded() || !j.contains("choices")) return "<no choices: " + r.body + ">";
  return j["choices"][0]["message"]["content"].get<std::string>();
}

testing::HttpResponse Chat(int port, const std::string& body) {
  return testing::HttpRequest(port, "POST", "/v1/chat/completions", body,
                              {"Content-Type: application/json"}, milliseconds(30000));
}

int CachedTokens(const testing::HttpResponse& r) {
  const json u = Usage(r);
  return u.is_object() ? u["prompt_tokens_details"].value("cached_tokens", 0) : 0;
}

// Prefill puts new blocks into the pool in the background, after its reply: the
// same request again, until it is served from the pool (at most ~3 s). Every
// answer on the way must carry `expected_text`.
testing::HttpResponse ChatUntilCached(int port, const std::string& body,
                                      const std::string& expected_text) {
  testing::HttpResponse r;
  for (int i = 0; i < 15; ++i) {
    r = Chat(port, body);
    if (r.status != 200 || Text(r) != expected_text || CachedTokens(r) > 0) return r;
    std::this_thread::sleep_for(milliseconds(200));
  }
  return r;
}

// Mappings of transfer-engine shared memory (memfds from AllocateSharedMemory) in
// process `pid`, per /proc/<pid>/maps: inode → mapped bytes.
std::map<uint64_t, uint64_t> SharedMappings(pid_t pid) {
  std::map<uint64_t, uint64_t> out;
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  for (std::string line; std::getline(maps, line);) {
    if (line.find("memfd:kvc-transfer") == std::string::npos) continue;
    std::istringstream in(line);
    std::string range, perms, offset, device;
    uint64_t inode = 0;
    in >> range >> perms >> offset >> device >> inode;
    const size_t dash = range.find('-');
    out[inode] += std::stoull(range.substr(dash + 1), nullptr, 16) -
                  std::stoull(range.substr(0, dash), nullptr, 16);
  }
  return out;
}

// The decode node's KV arena (kvc-tiny on the CPU: 32768 bytes per block) is a
// shared-memory allocation that the prefill process has mapped: the prompt's KV went
// over the shared-mapping path (memcpy), not cross-memory attach.
void ExpectPrefillMappedTheDecodeArena(const LocalCluster& cluster) {
  uint64_t arena_bytes = 0;
  std::string nodes;
  for (int i = 0; i < 60 && arena_bytes == 0; ++i) {  // the load comes with a heartbeat
    nodes.clear();
    for (const auto& n : cluster.Nodes()) {
      nodes += n.ShortDebugString() + "\n";
      if (n.node_id() == "decode-0") arena_bytes = n.load().total_kv_blocks() * 32768;
    }
    if (arena_bytes == 0) std::this_thread::sleep_for(milliseconds(50));
  }
  ASSERT_GT(arena_bytes, 0u) << nodes;
  const auto decode = SharedMappings(cluster.Pid("decode-0"));
  const auto prefill = SharedMappings(cluster.Pid("prefill-0"));
  bool mapped = false;
  for (const auto& [inode, bytes] : decode) {
    const bool is_arena = bytes >= arena_bytes && bytes < arena_bytes + (2u << 20);
    if (is_arena && prefill.count(inode) > 0) mapped = true;
  }
  EXPECT_TRUE(mapped) << "no shared mapping of the decode arena (" << arena_bytes
                      << " bytes) in the prefill process; decode memfds: " << decode.size()
                      << ", prefill memfds: " << prefill.size();
}

// The value of an unlabelled counter in Prometheus text; -1 when absent.
double MetricValue(const std::string& text, const std::string& name) {
  const std::string key = "\n" + name + " ";
  const size_t at = ("\n" + text).find(key);
  if (at == std::string::npos) return -1;
  return std::stod(text.substr(at + key.size() - 1));
}

// Streamed greedy text equals single-process kvc-model (the KV went from the prefill
// to the decode process through the shared mapping of the decode arena); the second
// request with the same prompt reuses pooled blocks (cached_tokens > 0), same text.
TEST(E2eGenerateTest, StreamEqualsKvcModelAndSecondRequestIsCached) {
  LocalCluster cluster({});
  ASSERT_TRUE(cluster.ok()) << cluster.up_output();
  const std::string expected = KvcModelText(cluster.model_dir(), kPrompt, 16);
  auto first = testing::PostSse(
      cluster.http_port(), "/v1/chat/completions",
      testing::ChatBody(kPrompt, 16, true, R"({"stream_options":{"include_usage":true}})"));
  ASSERT_EQ(first.status, 200) << first.body;
  ASSERT_FALSE(first.events.empty());
  EXPECT_EQ(first.events.back(), "[DONE]");
  EXPECT_EQ(testing::StreamedText(first.events), expected);
  ExpectPrefillMappedTheDecodeArena(cluster);

  auto second =
      ChatUntilCached(cluster.http_port(), testing::ChatBody(kPrompt, 16, false), expected);
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(Text(second), expected);
  const json usage = Usage(second);
  EXPECT_GT(usage["prompt_tokens_details"]["cached_tokens"].get<int>(), 0) << second.body;
  EXPECT_EQ(usage["completion_tokens"].get<int>(), 16);
  // One prefill node: the reused blocks are its own, none was fetched from another node
  // (prefill_main used to leave the worker's node id empty, so all counted as fetched).
  const std::string metrics = testing::HttpRequest(cluster.http_port(), "GET", "/metrics").body;
  EXPECT_GT(MetricValue(metrics, "kvc_conductor_cached_prompt_tokens_total"), 0) << metrics;
  EXPECT_EQ(MetricValue(metrics, "kvc_conductor_fetched_prompt_tokens_total"), 0) << metrics;
}

// A random-weight model (kvc-tiny as kvc-local writes it: 256 byte tokens plus
// specials) sampled at temperature 1 for 300 tokens emits mostly raw bytes, many of
// them 0x80..0xFF in sequences that are not UTF-8. Every SSE event, the streamed
// text and the non-streamed message are valid UTF-8 (JSON that parses), and the
// text contains U+FFFD: invalid bytes really were generated and replaced, so the
// check is not vacuous.
TEST(E2eGenerateTest, RandomModelOutputIsValidUtf8InEveryChunk) {
  LocalCluster cluster({});
  ASSERT_TRUE(cluster.ok()) << cluster.up_output();
  const auto body = [](bool stream) {
    json j = {{"model", "kvc-tiny"}, {"prompt", kPrompt}, {"max_tokens", 300}, {"ignore_eos", true},
              {"temperature", 1.0},  {"seed", 7},         {"stream", stream}};
    if (stream) j["stream_options"] = {{"include_usage", true}};
    return j.dump();
  };
  const std::string kReplacement = "\xEF\xBF\xBD";
  auto streamed = testing::PostSse(cluster.http_port(), "/v1/completions", body(true), nullptr,
                                   milliseconds(120000));
  ASSERT_EQ(streamed.status, 200) << streamed.body;
  ASSERT_FALSE(streamed.events.empty());
  EXPECT_EQ(streamed.events.back(), "[DONE]");
  int completion_tokens = -1;
  for (const std::string& e : streamed.events) {
    ASSERT_TRUE(IsValidUtf8(e)) << "invalid UTF-8 in an SSE event";
    if (e == "[DONE]") continue;
    const json j = json::parse(e, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(j.is_discarded()) << "an SSE event is not JSON";
    if (j.contains("usage") && j["usage"].is_object()) {
      completion_tokens = j["usage"]["completion_tokens"].get<int>();
    }
  }
  EXPECT_EQ(completion_tokens, 300) << "ignore_eos: all 300 tokens";
  const std::string text = testing::StreamedText(streamed.events);
  EXPECT_TRUE(IsValidUtf8(text));
  EXPECT_NE(text.find(kReplacement), std::string::npos)
      << "no invalid byte sequence was generated: the test proves nothing";
  std::printf("streamed %zu events, %zu bytes of text, %zu U+FFFD\n", streamed.events.size(),
              text.size(), [&] {
                size_t n = 0;
                for (size_t at = text.find(kReplacement); at != std::string::npos;
                     at = text.find(kReplacement, at + 1))
                  ++n;
                return n;
              }());

  auto whole = testing::HttpRequest(cluster.http_port(), "POST", "/v1/completions", body(false), {},
                                    milliseconds(120000));
  ASSERT_EQ(whole.status, 200) << whole.body;
  ASSERT_TRUE(IsValidUtf8(whole.body));
  const json j = json::parse(whole.body, nullptr, false);
  ASSERT_FALSE(j.is_discarded());
  const std::string message = j["choices"][0]["text"].get<std::string>();
  EXPECT_TRUE(IsValidUtf8(message));
  EXPECT_NE(message.find(kReplacement), std::string::npos);
}

// With two prefill nodes: the prefix computed on one is fetched by the other
// (the first is drained so the second must serve), output unchanged.
TEST(E2eGenerateTest, PrefixReusedAcrossPrefillNodes) {
  LocalCluster cluster({"--prefill", "2"});
  ASSERT_TRUE(cluster.ok()) << cluster.up_output();
  auto first = Chat(cluster.http_port(), testing::ChatBody(kPrompt, 12, false));
  ASSERT_EQ(first.status, 200) << first.body;
  // Which prefill node served it: the one that now holds blocks; drain it.
  std::string served;
  for (int i = 0; i < 50 && served.empty(); ++i) {
    for (const auto& n : cluster.Nodes()) {
      if (n.role() == v1::NODE_ROLE_PREFILL && n.load().prefill_tokens_per_second() > 0) {
        served = n.node_id();
      }
    }
    if (served.empty()) std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_FALSE(served.empty()) << "no prefill node reported work";
  std::string out;
  ASSERT_EQ(cluster.RunLocal({"status"}, &out), 0) << out;
  {
    auto admin = v1::Admin::NewStub(MakeChannel(cluster.conductor_address()));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + milliseconds(2000));
    AddBearerToken(&ctx, cluster.admin_token());
    v1::DrainNodeRequest req;
    req.set_node_id(served);
    v1::DrainNodeResponse resp;
    ASSERT_TRUE(admin->DrainNode(&ctx, req, &resp).ok());
  }
  auto second =
      ChatUntilCached(cluster.http_port(), testing::ChatBody(kPrompt, 12, false), Text(first));
  ASSERT_EQ(second.status, 200) << second.body;
  EXPECT_EQ(Text(second), Text(first));
  EXPECT_GT(Usage(second)["prompt_tokens_details"]["cached_tokens"].get<int>(), 0)
      << "the other node fetched the prefix from " << served << ": " << second.body;
  const std::string metrics = testing::HttpRequest(cluster.http_port(), "GET", "/metrics").body;
  EXPECT_GT(MetricValue(metrics, "kvc_conductor_fetched_prompt_tokens_total"), 0) << metrics;
}

void ExpectOpenAiError(const testing::HttpResponse& r, int status) {
  EXPECT_EQ(r.status, status) << r.body;
  auto j = json::parse(r.body, nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.body;
  ASSERT_TRUE(j.contains("error")) << r.body;
  EXPECT_TRUE(j["error"].contains("message"));
  EXPECT_TRUE(j["error"].contains("type"));
  EXPECT_TRUE(j["error"].contains("code"));
}

// Bad input → 400/404 with an OpenAI error body; the cluster keeps serving. An
// objective no placement can meet → 429 with Retry-After.
// A model directory whose tokenizer_config.json carries its own Jinja chat template: the
// cluster renders it (not the built-in Llama-3 format), POST /tokenize over HTTP returns
// the ids kvc-model tokenize --chat computes, /detokenize inverts them, and a chat
// completion runs on them.
TEST(E2eGenerateTest, ModelJinjaTemplateTokenizeAndDetokenize) {
  testing::TempDir dir;
  const std::string model = dir.path() + "/model";
  testing::Subprocess init({testing::BinDir() + "/kvc-model", "init", "--out", model},
                           dir.path() + "/init.log");
  auto st = init.WaitFor(milliseconds(30000));
  ASSERT_TRUE(st && WIFEXITED(*st) && WEXITSTATUS(*st) == 0)
      << testing::ReadFile(dir.path() + "/init.log");
  const json config = {
      {"bos_token", "<|begin_of_text|>"},
      {"chat_template",
       "{{ bos_token }}{% for m in messages %}<|start_header_id|>{{ m.role | upper }}"
       "<|end_header_id|>\n\n{{ m.content | trim }}<|eot_id|>{% endfor %}"
       "{% if add_generation_prompt %}<|start_header_id|>ASSISTANT<|end_header_id|>"
       "\n\n{% endif %}"}};
  std::ofstream(model + "/tokenizer_config.json") << config.dump();
  testing::Subprocess tok({testing::BinDir() + "/kvc-model", "tokenize", "--model", model, "--text",
                           "  Hi there ", "--chat", "--json"},
                          dir.path() + "/tok.json");
  st = tok.WaitFor(milliseconds(30000));
  ASSERT_TRUE(st && WIFEXITED(*st) && WEXITSTATUS(*st) == 0)
      << testing::ReadFile(dir.path() + "/tok.json");
  const json expected = json::parse(testing::ReadFile(dir.path() + "/tok.json"));

  LocalCluster cluster({"--model", model});
  ASSERT_TRUE(cluster.ok()) << cluster.up_output();
  const int port = cluster.http_port();
  auto models = testing::HttpRequest(port, "GET", "/v1/models", "", {}, milliseconds(30000));
  ASSERT_EQ(models.status, 200) << models.body;
  const json card = json::parse(models.body)["data"][0];
  EXPECT_EQ(card["root"], model);
  EXPECT_EQ(card["max_model_len"], expected["max_model_len"]);
  const std::string id = json{{"model", card["id"]}}.dump();
  auto r = testing::HttpRequest(port, "POST", "/tokenize",
                                R"({"messages":[{"role":"user","content":"  Hi there "}]})",
                                {"Content-Type: application/json"}, milliseconds(30000));
  ASSERT_EQ(r.status, 200) << r.body;
  const json got = json::parse(r.body);
  EXPECT_EQ(got["tokens"], expected["tokens"]);
  EXPECT_EQ(got["count"], expected["count"]);
  EXPECT_EQ(got["max_model_len"], expected["max_model_len"]);
  auto back =
      testing::HttpRequest(port, "POST", "/detokenize", json{{"tokens", got["tokens"]}}.dump(),
                           {"Content-Type: application/json"}, milliseconds(30000));
  ASSERT_EQ(back.status, 200) << back.body;
  EXPECT_EQ(json::parse(back.body)["prompt"],
            "<|begin_of_text|><|start_header_id|>USER<|end_header_id|>\n\nHi there<|eot_id|>"
            "<|start_header_id|>ASSISTANT<|end_header_id|>\n\n");
  auto chat = Chat(port, testing::ChatBody("  Hi there ", 4, false, id));
  ASSERT_EQ(chat.status, 200) << chat.body;
  EXPECT_EQ(Usage(chat)["prompt_tokens"], expected["count"]);
  json with_logprobs = json::parse(id);
  with_logprobs["top_logprobs"] = 3;
  auto refused = Chat(port, testing::ChatBody("hi", 4, false, with_logprobs.dump()));
  EXPECT_EQ(refused.status, 400) << refused.body;
  EXPECT_NE(refused.body.find("top_logprobs"), std::string::npos) << refused.body;
}

TEST(E2eGenerateTest, BadRequestsAndOverload) {
  LocalCluster cluster({});
  ASSERT_TRUE(cluster.ok()) << cluster.up_output();
  const int port = cluster.http_port();
  ExpectOpenAiError(Chat(port, "{not json"), 400);
  ExpectOpenAiError(Chat(port, R"({"model":"kvc-tiny"})"), 400);
  ExpectOpenAiError(Chat(port, testing::ChatBody("hi", 8, false, R"({"model":"nope"})")), 404);
  ExpectOpenAiError(Chat(port, testing::ChatBody("hi", -1, false)), 400);
  ExpectOpenAiError(Chat(port, testing::ChatBody(std::string(5000, 'a'), 8, false)), 400);
  EXPECT_EQ(Chat(port, testing::ChatBody("hi", 4, false)).status, 200) << "still serving";

  auto admin = v1::Admin::NewStub(MakeChannel(cluster.conductor_address()));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + milliseconds(2000));
  AddBearerToken(&ctx, cluster.admin_token());
  v1::SetSLORequest req;
  req.mutable_slo()->set_ttft_seconds(1e-9);
  req.mutable_slo()->set_tbt_seconds(1e-9);
  v1::SLO resp;
  ASSERT_TRUE(admin->SetSLO(&ctx, req, &resp).ok());
  auto rejected = Chat(port, testing::ChatBody(kPrompt, 8, false));
  ExpectOpenAiError(rejected, 429);
  std::string headers = rejected.headers;
  for (char& c : headers) c = static_cast<char>(std::tolower(c));
  EXPECT_NE(headers.find("retry-after"), std::string::npos) << rejected.headers;
}

}  // namespace
}  // namespace kvc

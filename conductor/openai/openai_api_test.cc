#include "kvc/conductor/openai_api.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "kvc/common/json.h"

namespace kvc::openai {
namespace {

using json = nlohmann::json;

// Expects an INVALID_ARGUMENT whose message contains `needle`.
void ExpectInvalid(const StatusOr<GenerationRequest>& r, const std::string& needle) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().message();
}

// A full chat request keeps every field.
TEST(OpenAiRequestTest, ChatFieldsParsed) {
  auto r = ParseChatCompletionRequest(R"({
    "model": "kvc-tiny", "messages": [{"role":"system","content":"be brief"},
      {"role":"user","content":[{"type":"text","text":"hi "},{"type":"text","text":"there"}]}],
    "max_tokens": 32, "temperature": 0, "top_p": 0.9, "seed": 7, "stop": ["\n\n", "END"],
    "stream": true, "stream_options": {"include_usage": true}, "top_k": 40})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->model, "kvc-tiny");
  ASSERT_EQ(r->messages.size(), 2u);
  EXPECT_EQ(r->messages[1].content, "hi there");
  EXPECT_EQ(*r->max_tokens, 32u);
  EXPECT_EQ(r->temperature, 0.0);
  EXPECT_DOUBLE_EQ(r->top_p, 0.9);
  EXPECT_EQ(*r->seed, 7u);
  EXPECT_EQ(r->stop, (std::vector<std::string>{"\n\n", "END"}));
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
  EXPECT_EQ(r->top_k, 40u);
}

// Unknown or unimplemented fields are refused by name unless their value means "off".
TEST(OpenAiRequestTest, UnsupportedFieldsNamed) {
  const std::string base = R"("model":"m","messages":[{"role":"user","content":"x"}])";
  for (const char* field :
       {R"("tools":[{"type":"function"}])", R"("presence_penalty":0.5)", R"("logit_bias":{"5":1})",
        R"("response_format":{"type":"json_object"})", R"("n":2)", R"("frobnicate":1)"}) {
    auto r = ParseChatCompletionRequest("{" + base + "," + field + "}");
    ASSERT_FALSE(r.ok()) << field;
    const std::string name = std::string(field).substr(1, std::string(field).find('"', 1) - 1);
    EXPECT_NE(r.status().message().find(name), std::string::npos) << r.status().message();
  }
  EXPECT_TRUE(ParseChatCompletionRequest("{" + base +
                                         R"(,"presence_penalty":0,"logprobs":false,"user":"u1"})")
                  .ok());
  ExpectInvalid(ParseChatCompletionRequest(
                    R"({"model":"m","messages":[{"role":"user","content":"x","tool_calls":[]}]})"),
                "messages[0].tool_calls");
  ExpectInvalid(
      ParseChatCompletionRequest("{" + base + R"(,"stream":true,"stream_options":{"x":1}})"),
      "stream_options.x");
  auto t = ParseTokenizeRequest(
      R"({"messages":[{"role":"user","content":"x"}],"add_generation_prompt":false})");
  ASSERT_TRUE(t.ok()) << t.status();
  EXPECT_TRUE(t->chat);
  EXPECT_FALSE(t->add_generation_prompt);
  EXPECT_FALSE(t->add_special_tokens);
  EXPECT_FALSE(ParseTokenizeRequest(R"({"prompt":"x","messages":[]})").ok());
  EXPECT_FALSE(ParseDetokenizeRequest(R"({"tokens":[-1]})").ok());
}

// Bad chat bodies get errors naming the problem.
TEST(OpenAiRequestTest, ChatErrors) {
  ExpectInvalid(ParseChatCompletionRequest("{not json"), "not valid JSON");
  ExpectInvalid(ParseChatCompletionRequest("[1,2]"), "JSON object");
  ExpectInvalid(ParseChatCompletionRequest(R"({"messages":[{"role":"user","content":"x"}]})"),
                "model is required");
  ExpectInvalid(ParseChatCompletionRequest(R"({"model":"m"})"), "messages is required");
  ExpectInvalid(ParseChatCompletionRequest(R"({"model":"m","messages":[]})"),
                "messages is required");
  ExpectInvalid(ParseChatCompletionRequest(R"({"model":"m","messages":[{"content":"x"}]})"),
                "messages[0] needs a string role");
  ExpectInvalid(
      ParseChatCompletionRequest(R"({"model":"m","messages":[{"role":"robot","content":"x"}]})"),
      "robot");
  ExpectInvalid(ParseChatCompletionRequest(
                    R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":-5})"),
                "max_tokens must be >= 1, got -5");
  ExpectInvalid(ParseChatCompletionRequest(
                    R"({"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":"9"})"),
                "max_tokens must be an integer");
  ExpectInvalid(ParseChatCompletionRequest(
                    R"({"model":"m","messages":[{"role":"user","content":"x"}],"temperature":3})"),
                "temperature");
  ExpectInvalid(ParseChatCompletionRequest(
                    R"({"model":"m","messages":[{"role":"user","content":"x"}],"n":2})"),
                "n must be 1");
  ExpectInvalid(ParseChatCompletionRequest(
                    R"({"model":"m","messages":[{"role":"user","content":"x"}],"stop":[1]})"),
                "stop");
  ExpectInvalid(
      ParseChatCompletionRequest(
          R"({"model":"m","messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true}})"),
      "only allowed when stream");
  ExpectInvalid(
      ParseChatCompletionRequest(
          R"({"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]})"),
      "text");
}

// A content part whose "type" is not a string is a 400 naming the field (it was a
// 500 carrying the JSON library's exception text).
TEST(OpenAiRequestTest, ContentPartTypeNotAStringNamesTheField) {
  for (const char* type : {"1", "null", "true", "[]", "{}", "[\"text\"]"}) {
    const std::string body =
        std::string(R"({"model":"m","messages":[{"role":"user","content":[{"type":)") + type +
        R"(,"text":"x"}]}]})";
    ExpectInvalid(ParseChatCompletionRequest(body), "messages[0].content[0].type must be a string");
  }
  ExpectInvalid(ParseChatCompletionRequest(
                    R"({"model":"m","messages":[{"role":"user","content":[{"text":"x"}]}]})"),
                "messages[0].content[0].type");
  ExpectInvalid(
      ParseChatCompletionRequest(
          R"({"model":"m","messages":[{"role":"user","content":[{"type":"text","text":1}]}]})"),
      "messages[0].content[0].text must be a string");
  ExpectInvalid(
      ParseChatCompletionRequest(R"({"model":"m","messages":[{"role":"user","content":["x"]}]})"),
      "messages[0].content[0] must be an object");
}

// Every field of full bodies replaced by every JSON type: the parsers answer OK or
// INVALID_ARGUMENT and never throw (a throw became a 500 with exception text).
TEST(OpenAiRequestTest, MutatedBodiesNeverThrow) {
  const json chat = json::parse(R"({"model":"m","messages":[{"role":"user","content":
      [{"type":"text","text":"hi"}]},{"role":"system","content":"s"}],"max_tokens":3,
      "max_completion_tokens":3,"temperature":1,"top_p":0.5,"top_k":2,"seed":1,"n":1,
      "stop":["a"],"ignore_eos":false,"stream":true,"stream_options":{"include_usage":true}})");
  json completion = chat;
  completion.erase("messages");
  completion["prompt"] = json::array({1, 2});
  const std::vector<json> values = {json(1),        json(nullptr),    json(true),
                                    json(-1),       json(1e300),      json("s"),
                                    json(""),       json::array(),    json::array({1, "x"}),
                                    json::object(), json({{"a", 1}}), json(18446744073709551615u)};
  int cases = 0;
  for (const json* base : {&chat, static_cast<const json*>(&completion)}) {
    const json flat = base->flatten();
    for (const auto& [pointer, unused] : flat.items()) {
      // The value itself and each of its parents in turn.
      for (json::json_pointer p(pointer); !p.empty(); p = p.parent_pointer()) {
        for (const json& v : values) {
          json mutated = *base;
          mutated[p] = v;
          const std::string body = kvc::DumpJson(mutated);
          StatusOr<GenerationRequest> r = absl::UnknownError("not run");
          ASSERT_NO_THROW(r = base == &chat ? ParseChatCompletionRequest(body)
                                            : ParseCompletionRequest(body))
              << body;
          EXPECT_TRUE(r.ok() || r.status().code() == absl::StatusCode::kInvalidArgument)
              << body << " -> " << r.status();
          ++cases;
        }
      }
    }
  }
  EXPECT_GT(cases, 500);
}

// Completions take a string, a one-string array, or token ids; default max_tokens is 16.
TEST(OpenAiRequestTest, CompletionPrompts) {
  auto text = ParseCompletionRequest(R"({"model":"m","prompt":"Once upon"})");
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(text->prompt_text, "Once upon");
  EXPECT_EQ(*text->max_tokens, 16u);
  auto tokens =
      ParseCompletionRequest(R"({"model":"m","prompt":[1,2,3],"max_tokens":4,"ignore_eos":true})");
  ASSERT_TRUE(tokens.ok());
  EXPECT_TRUE(tokens->prompt_is_tokens);
  EXPECT_EQ(tokens->prompt_tokens, (std::vector<uint32_t>{1, 2, 3}));
  EXPECT_TRUE(tokens->ignore_eos);
  ExpectInvalid(ParseCompletionRequest(R"({"model":"m"})"), "prompt is required");
  ExpectInvalid(ParseCompletionRequest(R"({"model":"m","prompt":[1,-2]})"), "non-negative");
  ExpectInvalid(ParseCompletionRequest(R"({"model":"m","prompt":["a","b"]})"), "batched");
  ExpectInvalid(ParseCompletionRequest(R"({"model":"m","prompt":""})"), "empty");
}

// Chat chunks carry the role first, content deltas, then a finish reason; usage chunk last.
TEST(OpenAiResponseTest, ChatStreamShape) {
  GenerationRequest r;
  r.endpoint = GenerationRequest::Endpoint::kChat;
  r.include_usage = true;
  ResponseIds ids{"chatcmpl-1", 1700000000, "kvc-tiny"};
  json first = json::parse(RenderChunk(r, ids, "He", "", true));
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["delta"]["role"], "assistant");
  EXPECT_EQ(first["choices"][0]["delta"]["content"], "He");
  EXPECT_TRUE(first["choices"][0]["finish_reason"].is_null());
  json last = json::parse(RenderChunk(r, ids, "", "stop", false));
  EXPECT_EQ(last["choices"][0]["finish_reason"], "stop");
  json usage = json::parse(RenderUsageChunk(r, ids, {10, 3, 8}));
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["total_tokens"], 13);
  EXPECT_EQ(usage["usage"]["prompt_tokens_details"]["cached_tokens"], 8);
}

// Whole responses for both endpoints; invalid UTF-8 in text does not break the JSON.
TEST(OpenAiResponseTest, WholeResponses) {
  GenerationRequest chat;
  ResponseIds ids{"chatcmpl-2", 1, "kvc-tiny"};
  json c = json::parse(RenderResponse(chat, ids, "hello", "length", {5, 2, 0}));
  EXPECT_EQ(c["object"], "chat.completion");
  EXPECT_EQ(c["choices"][0]["message"]["content"], "hello");
  EXPECT_EQ(c["usage"]["completion_tokens"], 2);
  GenerationRequest comp;
  comp.endpoint = GenerationRequest::Endpoint::kCompletion;
  json t = json::parse(RenderResponse(comp, ids, std::string("bad \xff byte"), "stop", {}));
  EXPECT_EQ(t["object"], "text_completion");
  EXPECT_NE(t["choices"][0]["text"].get<std::string>().find("bad"), std::string::npos);
  json models = json::parse(RenderModelList({{"kvc-tiny", "/models/tiny", 4096}}, 5));
  EXPECT_EQ(models["data"][0]["id"], "kvc-tiny");
  EXPECT_EQ(models["data"][0]["root"], "/models/tiny");
  EXPECT_EQ(models["data"][0]["max_model_len"], 4096);
}

}  // namespace
}  // namespace kvc::openai

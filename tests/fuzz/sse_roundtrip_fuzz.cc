// Fuzz target: the streamed-response round trip. Text from the input is cut into
// pieces, each rendered as an OpenAI stream chunk (openai_response.cc) and sent
// as a Server-Sent Event by kvc's HttpServer (src/http/server.cc, on loopback);
// kvc's HTTP client (src/http/client.cc) reads the event stream back. Checked:
// every event arrives, in order, as one valid JSON chunk whose text is the piece
// (invalid UTF-8 repaired to U+FFFD), then the usage chunk and "[DONE]".
//
// Input: byte 0 = piece count (1..16) and endpoint (bit 7: completion), byte 1
// bit 0 = include_usage, the rest = text.
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "kvc/common/utf8.h"
#include "kvc/conductor/openai_api.h"
#include "kvc/http/client.h"
#include "kvc/http/server.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using kvc::openai::GenerationRequest;

GenerationRequest RequestFor(const std::string& mode) {
  GenerationRequest r;
  r.endpoint = (mode[0] & 0x80) ? GenerationRequest::Endpoint::kCompletion
                                : GenerationRequest::Endpoint::kChat;
  r.model = "fuzz-model";
  r.stream = true;
  r.include_usage = (mode[1] & 1) != 0;
  return r;
}

std::vector<std::string> Pieces(const std::string& mode, const std::string& text) {
  const size_t count = 1 + (static_cast<unsigned char>(mode[0]) & 0x0F);
  std::vector<std::string> pieces;
  const size_t step = text.size() / count + 1;
  for (size_t at = 0; at < text.size(); at += step) pieces.push_back(text.substr(at, step));
  if (pieces.empty()) pieces.push_back("");
  return pieces;
}

const kvc::openai::ResponseIds kIds{"chatcmpl-fuzz", 1700000000, "fuzz-model"};

// Body = the raw input: mode bytes then text.
void Stream(const kvc::http::Request& request, std::shared_ptr<kvc::http::ResponseWriter> w) {
  const std::string mode = request.body.substr(0, 2), text = request.body.substr(2);
  const GenerationRequest r = RequestFor(mode);
  w->StartEventStream();
  const auto pieces = Pieces(mode, text);
  for (size_t i = 0; i < pieces.size(); ++i) {
    const bool last = i + 1 == pieces.size();
    w->SendEvent(kvc::openai::RenderChunk(r, kIds, pieces[i], last ? "length" : "", i == 0));
  }
  if (r.include_usage) w->SendEvent(kvc::openai::RenderUsageChunk(r, kIds, {7, 9, 2}));
  w->SendEvent("[DONE]");
  w->End();
}

kvc::http::HttpServer* Server() {
  static kvc::http::HttpServer* server = [] {
    kvc::http::ServerOptions options;
    options.port = 0;
    options.io_threads = 1;
    auto* s = new kvc::http::HttpServer(options);
    s->Route("POST", "/stream", Stream);
    if (!s->Start().ok()) kvc::fuzz::Fail("cannot start the HTTP server");
    return s;
  }();
  return server;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2 || size > 64 * 1024) return 0;
  const std::string input(reinterpret_cast<const char*>(data), size);
  const std::string mode = input.substr(0, 2), text = input.substr(2);
  const GenerationRequest r = RequestFor(mode);
  std::vector<std::string> events;
  kvc::http::RequestOptions options;
  options.total_timeout = std::chrono::milliseconds(10000);
  auto response = kvc::http::Fetch(kvc::http::Loopback(Server()->port()), "POST", "/stream", input,
                                   options, [&](const std::string& event) {
                                     events.push_back(event);
                                     return true;
                                   });
  KVC_FUZZ_CHECK(response.ok(), response.status().ToString());
  KVC_FUZZ_CHECK(response->status == 200, std::to_string(response->status));
  const auto pieces = Pieces(mode, text);
  const size_t expected = pieces.size() + (r.include_usage ? 1 : 0) + 1;
  KVC_FUZZ_CHECK(events.size() == expected,
                 std::to_string(events.size()) + " events, expected " + std::to_string(expected));
  for (size_t i = 0; i < pieces.size(); ++i) {
    auto j = nlohmann::json::parse(events[i], nullptr, /*allow_exceptions=*/false);
    KVC_FUZZ_CHECK(j.is_object(), "event " + std::to_string(i) + " is not JSON: " + events[i]);
    auto& choice = j["choices"][0];
    const bool chat = r.endpoint == GenerationRequest::Endpoint::kChat;
    auto& got = chat ? choice["delta"]["content"] : choice["text"];
    const std::string want = kvc::ToValidUtf8(pieces[i]);
    if (want.empty() && chat && got.is_null()) continue;  // an empty delta carries no text
    KVC_FUZZ_CHECK(got.is_string() && got.get<std::string>() == want,
                   "piece " + std::to_string(i) + " changed: " + events[i]);
  }
  if (r.include_usage) {
    auto j = nlohmann::json::parse(events[pieces.size()], nullptr, false);
    KVC_FUZZ_CHECK(j.is_object() && j["usage"]["total_tokens"] == 16, events[pieces.size()]);
  }
  KVC_FUZZ_CHECK(events.back() == "[DONE]", events.back());
  return 0;
}

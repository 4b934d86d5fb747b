#include "tests/serving/sse_client.h"

#include <nlohmann/json.hpp>

#include "kvc/http/client.h"

namespace kvc::testing {

SseResult PostSse(int port, const std::string& path, const std::string& body,
                  const std::function<bool(const std::string&)>& on_event,
                  std::chrono::milliseconds timeout) {
  SseResult r;
  http::RequestOptions o;
  o.connect_timeout = timeout;
  o.idle_timeout = timeout;
  o.total_timeout = std::chrono::minutes(10);
  http::Response response;
  // A stream cut or timed out mid-body keeps its status and the events so far.
  (void)http::FetchInto(
      http::Loopback(port), "POST", path, body, o,
      [&](const std::string& data) {
        r.events.push_back(data);
        r.body += "data: " + data + "\n\n";
        return !on_event || on_event(data);
      },
      &response);
  r.status = response.status;  // 0 when no response arrived
  r.closed_early = response.closed_early;
  if (r.events.empty()) r.body = std::move(response.body);
  return r;
}

std::string StreamedText(const std::vector<std::string>& events) {
  std::string text;
  for (const auto& e : events) {
    auto j = nlohmann::json::parse(e, nullptr, false);
    if (j.is_discarded() || !j.contains("choices") || j["choices"].empty()) continue;
    const auto& c = j["choices"][0];
    if (c.contains("delta") && c["delta"].contains("content") &&
        c["delta"]["content"].is_string()) {
      text += c["delta"]["content"].get<std::string>();
    } else if (c.contains("text") && c["text"].is_string()) {
      text += c["text"].get<std::string>();
    }
  }
  return text;
}

bool HasErrorEvent(const std::vector<std::string>& events) {
  for (const auto& e : events) {
    auto j = nlohmann::json::parse(e, nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.contains("error")) return true;
  }
  return false;
}

}  // namespace kvc::testing

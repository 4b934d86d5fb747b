// Test support: a streaming HTTP/1.1 POST for Server-Sent Events on loopback.
// Delivers each "data: ..." payload as it arrives (chunked transfer decoded), with
// a deadline on connect and every read; the callback may stop reading early,
// which closes the connection (a client disconnect).
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

namespace kvc::testing {

struct SseResult {
  int status = 0;                   // HTTP status, 0 when no response
  std::vector<std::string> events;  // "data:" payloads in order ("[DONE]" included)
  std::string body;                 // whole de-chunked body (non-SSE answers)
  bool closed_early = false;        // the callback asked to stop
};

// `on_event` returns false to disconnect at once.
SseResult PostSse(int port, const std::string& path, const std::string& body,
                  const std::function<bool(const std::string&)>& on_event = nullptr,
                  std::chrono::milliseconds timeout = std::chrono::milliseconds(20000));

// Concatenated choices[0].delta.content of chat chunks (or choices[0].text).
std::string StreamedText(const std::vector<std::string>& events);
// True when some event is an error object ({"error": ...}).
bool HasErrorEvent(const std::vector<std::string>& events);

}  // namespace kvc::testing

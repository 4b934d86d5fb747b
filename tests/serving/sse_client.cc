#include "tests/serving/sse_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "kvc/common/loopback_socket.h"

namespace kvc::testing {
namespace {

// Incremental chunked-transfer decoder.
class Dechunker {
 public:
  // Appends raw bytes; returns newly decoded body bytes.
  std::string Feed(const std::string& raw) {
    buf_ += raw;
    std::string out;
    while (true) {
      if (remaining_ == 0) {
        const size_t eol = buf_.find("\r\n");
        if (eol == std::string::npos) break;
        const std::string line = buf_.substr(0, eol);
        buf_.erase(0, eol + 2);
        if (line.empty()) continue;  // the CRLF after a chunk
        remaining_ = std::strtoull(line.c_str(), nullptr, 16);
        if (remaining_ == 0) {
          done_ = true;
          break;
        }
      }
      const size_t take = std::min<size_t>(remaining_, buf_.size());
      if (take == 0) break;
      out += buf_.substr(0, take);
      buf_.erase(0, take);
      remaining_ -= take;
    }
    return out;
  }
  bool done() const { return done_; }

 private:
  std::string buf_;
  size_t remaining_ = 0;
  bool done_ = false;
};

int Connect(int port, std::chrono::milliseconds timeout) { return ConnectLoopback(port, timeout); }

}  // namespace

SseResult PostSse(int port, const std::string& path, const std::string& body,
                  const std::function<bool(const std::string&)>& on_event,
                  std::chrono::milliseconds timeout) {
  SseResult r;
  const int fd = Connect(port, timeout);
  if (fd < 0) return r;
  const std::string req = "POST " + path +
                          " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          "Content-Length: " +
                          std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  send(fd, req.data(), req.size(), MSG_NOSIGNAL);
  std::string head, pending;
  bool in_body = false, chunked = false;
  Dechunker dechunk;
  char buf[16384];
  while (true) {
    const ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    std::string data(buf, static_cast<size_t>(n));
    if (!in_body) {
      head += data;
      const size_t end = head.find("\r\n\r\n");
      if (end == std::string::npos) continue;
      data = head.substr(end + 4);
      head.resize(end);
      in_body = true;
      if (head.size() > 12) r.status = std::atoi(head.c_str() + 9);
      for (char& c : head) c = static_cast<char>(std::tolower(c));
      chunked = head.find("transfer-encoding: chunked") != std::string::npos;
    }
    const std::string decoded = chunked ? dechunk.Feed(data) : data;
    r.body += decoded;
    pending += decoded;
    bool stop = false;
    for (size_t eol; !stop && (eol = pending.find('\n')) != std::string::npos;) {
      std::string line = pending.substr(0, eol);
      pending.erase(0, eol + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.rfind("data: ", 0) != 0) continue;
      r.events.push_back(line.substr(6));
      if (on_event && !on_event(r.events.back())) stop = r.closed_early = true;
    }
    if (stop || (chunked && dechunk.done())) break;
  }
  close(fd);
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

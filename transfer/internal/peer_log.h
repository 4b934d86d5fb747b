// Remembers which (peer, event) pairs were already logged, so a per-peer line
// (the backend a peer uses, a fallback between transports) is written once per
// peer and not on every re-open or copy. Thread-safe.
#pragma once

#include <mutex>
#include <set>
#include <string>
#include <utility>

namespace kvc::transfer::internal {

class PeerLog {
 public:
  // True the first time `event` is seen for `peer`, false afterwards.
  bool First(const std::string& peer, const std::string& event) {
    std::lock_guard lock(mu_);
    return seen_.emplace(peer, event).second;
  }

 private:
  std::mutex mu_;
  std::set<std::pair<std::string, std::string>> seen_;  // guarded by mu_
};

}  // namespace kvc::transfer::internal

// EtcdClient: the few etcd v3 operations the store needs (leases, create-if-absent,
// get, delete), over etcd's JSON gateway (/v3/...) with our own HTTP client —
// Debian has no etcd C++ client. Tries each endpoint in turn. Thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "kvc/common/status.h"

namespace kvc::store {

class EtcdClient {
 public:
  // `endpoints`: "http://host:port" client URLs. `timeout` bounds each request.
  EtcdClient(std::vector<std::string> endpoints, std::chrono::milliseconds timeout);
  // Parses a comma-separated endpoint list; INVALID_ARGUMENT when empty.
  static StatusOr<std::vector<std::string>> ParseEndpoints(const std::string& list);

  // A new lease of `ttl_s` seconds; returns its id.
  StatusOr<int64_t> GrantLease(int64_t ttl_s);
  // Refreshes a lease. NOT_FOUND when it has already expired.
  [[nodiscard]] Status KeepAlive(int64_t lease_id);
  [[nodiscard]] Status RevokeLease(int64_t lease_id);
  // Creates key = value attached to the lease when the key does not exist.
  // Returns true when created (e.g. this process became the leader).
  StatusOr<bool> CreateIfAbsent(const std::string& key, const std::string& value, int64_t lease_id);
  // The value of key, nullopt when absent.
  StatusOr<std::optional<std::string>> Get(const std::string& key);

 private:
  StatusOr<std::string> Post(const std::string& path, const std::string& body);
  const std::vector<std::string> endpoints_;
  const std::chrono::milliseconds timeout_;
};

}  // namespace kvc::store

// Identifiers for requests and nodes. Thread-safe.
#pragma once

#include <string>
#include <string_view>

namespace kvc {

// A fresh request id, unique across processes with overwhelming probability:
// "req-" + 16 hex digits of per-process randomness mixed with a counter.
std::string NewRequestId();

// A node id for `role` on this host: "<role>-<hostname>-<8 hex random>".
std::string NewNodeId(std::string_view role);

// This machine's hostname ("localhost" when it cannot be read).
std::string HostName();

}  // namespace kvc

// The TCP backend (initiator side): per peer, a fixed set of pooled connections
// ("paths"), each with its own sender and receiver threads; slices are spread
// round-robin over the paths that are up. A path whose connect fails is marked
// down for path_down_ms; a broken connection is replaced on the next slice.
// Thread-safe.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "transfer/internal/channel.h"

namespace kvc::transfer {

struct TcpBackendOptions {
  std::string cluster_token;                  // presented on every connect
  uint32_t connections_per_peer = 2;          // paths per peer
  std::chrono::milliseconds timeout{3000};    // connect and reply-silence limit
  std::chrono::milliseconds path_down{1000};  // how long a failed path is skipped
};

std::unique_ptr<internal::Backend> MakeTcpBackend(TcpBackendOptions options);

}  // namespace kvc::transfer

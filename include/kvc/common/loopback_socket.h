// A blocking TCP connection to 127.0.0.1, for small local clients (health
// probes, test HTTP clients): every send and receive on it gives up after
// `io_timeout` (SO_SNDTIMEO / SO_RCVTIMEO), so no caller can hang on it.
#pragma once

#include <chrono>

namespace kvc {

// The connected socket (close-on-exec; the caller closes it), or -1 when the
// socket cannot be made or nothing accepts on `port`.
int ConnectLoopback(int port, std::chrono::milliseconds io_timeout);

}  // namespace kvc

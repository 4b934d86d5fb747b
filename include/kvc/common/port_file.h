// Port files: how a process started with port 0 tells its supervisor (tests,
// kvc-local, the deploy entrypoint) which port it bound.
#pragma once

#include <string>

#include "kvc/common/status.h"

namespace kvc {

// Writes `port` to `path` atomically (temp file + rename), so a reader never sees
// a partial file. Internal error naming the path on failure.
[[nodiscard]] Status WritePortFile(const std::string& path, int port);

}  // namespace kvc

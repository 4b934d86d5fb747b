// Options of kvc-conductor, filled from YAML, KVC_* env vars and flags (see
// kvc/common/config.h and docs/configuration.md).
#pragma once

#include "kvc/common/config.h"
#include "kvc/common/status.h"
#include "kvc/rpc/server.h"

namespace kvc {

struct ConductorOptions {
  ServerOptions server;  // listen_address defaults to 127.0.0.1:50051
};

void BindConductorOptions(OptionSet& set, ConductorOptions* options);
[[nodiscard]] Status ValidateConductorOptions(const ConductorOptions& options);

}  // namespace kvc

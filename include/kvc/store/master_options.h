// Options of kvc-master, filled from YAML, KVC_* env vars and flags (see
// kvc/common/config.h and docs/configuration.md).
#pragma once

#include "kvc/common/config.h"
#include "kvc/common/status.h"
#include "kvc/rpc/server.h"

namespace kvc {

struct MasterOptions {
  ServerOptions server;  // listen_address defaults to 127.0.0.1:50052
};

void BindMasterOptions(OptionSet& set, MasterOptions* options);
[[nodiscard]] Status ValidateMasterOptions(const MasterOptions& options);

}  // namespace kvc

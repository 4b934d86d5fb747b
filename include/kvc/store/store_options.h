// Options of kvc-store, filled from YAML, KVC_* env vars and flags (see
// kvc/common/config.h and docs/configuration.md).
#pragma once

#include "kvc/common/config.h"
#include "kvc/common/status.h"
#include "kvc/rpc/server.h"

namespace kvc {

struct StoreOptions {
  ServerOptions server;  // listen_address defaults to 127.0.0.1:50081
};

void BindStoreOptions(OptionSet& set, StoreOptions* options);
[[nodiscard]] Status ValidateStoreOptions(const StoreOptions& options);

}  // namespace kvc

// Options of kvc-prefill, filled from YAML, KVC_* env vars and flags (see
// kvc/common/config.h and docs/configuration.md).
#pragma once

#include "kvc/common/config.h"
#include "kvc/common/status.h"
#include "kvc/rpc/node_agent.h"
#include "kvc/rpc/server.h"

namespace kvc {

struct PrefillOptions {
  ServerOptions server;          // listen_address defaults to 127.0.0.1:50061
  MembershipOptions membership;  // conductor to register with, cluster token
};

void BindPrefillOptions(OptionSet& set, PrefillOptions* options);
[[nodiscard]] Status ValidatePrefillOptions(const PrefillOptions& options);

}  // namespace kvc

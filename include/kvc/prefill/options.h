// Options of kvc-prefill, filled from YAML, KVC_* env vars and flags (see
// kvc/common/config.h and docs/configuration.md).
#pragma once

#include "kvc/common/config.h"
#include "kvc/common/status.h"
#include "kvc/prefill/prefill_worker.h"
#include "kvc/worker/worker_node.h"

namespace kvc {

struct PrefillOptions {
  // Server (listen_address defaults to 127.0.0.1:50061), membership, model, engine,
  // transfer and pool options shared with kvc-decode.
  worker::WorkerNodeOptions node;
  prefill::PrefillWorkerOptions worker;  // the role's service (see kvc/prefill/prefill_worker.h)
};

void BindPrefillOptions(OptionSet& set, PrefillOptions* options);
[[nodiscard]] Status ValidatePrefillOptions(const PrefillOptions& options);

}  // namespace kvc

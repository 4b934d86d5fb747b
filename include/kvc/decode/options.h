// Options of kvc-decode, filled from YAML, KVC_* env vars and flags (see
// kvc/common/config.h and docs/configuration.md).
#pragma once

#include "kvc/common/config.h"
#include "kvc/common/status.h"
#include "kvc/decode/decode_worker.h"
#include "kvc/worker/worker_node.h"

namespace kvc {

struct DecodeOptions {
  // Server (listen_address defaults to 127.0.0.1:50071), membership, model, engine,
  // transfer and pool options shared with kvc-prefill.
  worker::WorkerNodeOptions node;
  decode::DecodeWorkerOptions worker;  // the role's service (see kvc/decode/decode_worker.h)
};

void BindDecodeOptions(OptionSet& set, DecodeOptions* options);
[[nodiscard]] Status ValidateDecodeOptions(const DecodeOptions& options);

}  // namespace kvc

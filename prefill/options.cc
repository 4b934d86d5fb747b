#include "kvc/prefill/options.h"

namespace kvc {

void BindPrefillOptions(OptionSet& set, PrefillOptions* options) {
  worker::BindWorkerNodeOptions(set, &options->node, "127.0.0.1:50061");
  prefill::BindPrefillWorkerOptions(set, &options->worker);
}

Status ValidatePrefillOptions(const PrefillOptions& options) {
  KVC_RETURN_IF_ERROR(worker::ValidateWorkerNodeOptions(options.node));
  return prefill::ValidatePrefillWorkerOptions(options.worker);
}

}  // namespace kvc

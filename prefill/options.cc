#include "kvc/prefill/options.h"

namespace kvc {

void BindPrefillOptions(OptionSet& set, PrefillOptions* options) {
  worker::BindWorkerNodeOptions(set, &options->node, "127.0.0.1:50061");
}

Status ValidatePrefillOptions(const PrefillOptions& options) {
  return worker::ValidateWorkerNodeOptions(options.node);
}

}  // namespace kvc

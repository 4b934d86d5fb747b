#include "kvc/decode/options.h"

namespace kvc {

void BindDecodeOptions(OptionSet& set, DecodeOptions* options) {
  worker::BindWorkerNodeOptions(set, &options->node, "127.0.0.1:50071");
}

Status ValidateDecodeOptions(const DecodeOptions& options) {
  return worker::ValidateWorkerNodeOptions(options.node);
}

}  // namespace kvc

#include "kvc/decode/options.h"

namespace kvc {

void BindDecodeOptions(OptionSet& set, DecodeOptions* options) {
  worker::BindWorkerNodeOptions(set, &options->node, "127.0.0.1:50071");
  decode::BindDecodeWorkerOptions(set, &options->worker);
}

Status ValidateDecodeOptions(const DecodeOptions& options) {
  KVC_RETURN_IF_ERROR(worker::ValidateWorkerNodeOptions(options.node));
  return decode::ValidateDecodeWorkerOptions(options.worker);
}

}  // namespace kvc

#include "kvc/decode/options.h"

namespace kvc {

void BindDecodeOptions(OptionSet& set, DecodeOptions* options) {
  BindServerOptions(set, &options->server, "127.0.0.1:50071");
}

Status ValidateDecodeOptions(const DecodeOptions& options) {
  return ValidateServerOptions(options.server);
}

}  // namespace kvc

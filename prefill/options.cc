#include "kvc/prefill/options.h"

namespace kvc {

void BindPrefillOptions(OptionSet& set, PrefillOptions* options) {
  BindServerOptions(set, &options->server, "127.0.0.1:50061");
}

Status ValidatePrefillOptions(const PrefillOptions& options) {
  return ValidateServerOptions(options.server);
}

}  // namespace kvc

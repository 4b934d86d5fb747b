#include "kvc/conductor/options.h"

namespace kvc {

void BindConductorOptions(OptionSet& set, ConductorOptions* options) {
  BindServerOptions(set, &options->server, "127.0.0.1:50051");
}

Status ValidateConductorOptions(const ConductorOptions& options) {
  return ValidateServerOptions(options.server);
}

}  // namespace kvc

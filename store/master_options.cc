#include "kvc/store/master_options.h"

namespace kvc {

void BindMasterOptions(OptionSet& set, MasterOptions* options) {
  BindServerOptions(set, &options->server, "127.0.0.1:50052");
}

Status ValidateMasterOptions(const MasterOptions& options) {
  return ValidateServerOptions(options.server);
}

}  // namespace kvc

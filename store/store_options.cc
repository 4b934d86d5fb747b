#include "kvc/store/store_options.h"

namespace kvc {

void BindStoreOptions(OptionSet& set, StoreOptions* options) {
  BindServerOptions(set, &options->server, "127.0.0.1:50081");
}

Status ValidateStoreOptions(const StoreOptions& options) {
  return ValidateServerOptions(options.server);
}

}  // namespace kvc

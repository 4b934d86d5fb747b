#include "kvc/prefill/options.h"

namespace kvc {

void BindPrefillOptions(OptionSet& set, PrefillOptions* options) {
  BindServerOptions(set, &options->server, "127.0.0.1:50061");
  BindMembershipOptions(set, &options->membership);
}

Status ValidatePrefillOptions(const PrefillOptions& options) {
  KVC_RETURN_IF_ERROR(ValidateServerOptions(options.server));
  return ValidateMembershipOptions(options.membership);
}

}  // namespace kvc

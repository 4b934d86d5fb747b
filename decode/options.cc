#include "kvc/decode/options.h"

namespace kvc {

void BindDecodeOptions(OptionSet& set, DecodeOptions* options) {
  BindServerOptions(set, &options->server, "127.0.0.1:50071");
  BindMembershipOptions(set, &options->membership);
}

Status ValidateDecodeOptions(const DecodeOptions& options) {
  KVC_RETURN_IF_ERROR(ValidateServerOptions(options.server));
  return ValidateMembershipOptions(options.membership);
}

}  // namespace kvc

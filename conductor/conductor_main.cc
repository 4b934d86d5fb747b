// kvc-conductor: front door and global scheduler (OpenAI-compatible HTTP, client and admin gRPC,
// KVCache-centric placement, early rejection).
#include <cstdio>

#include "kvc/conductor/options.h"
#include "kvc/rpc/server.h"

namespace {
constexpr const char* kDescription =
    "kvc-conductor: front door and global scheduler (OpenAI-compatible HTTP, client and admin "
    "gRPC, KVCache-centric placement, early rejection).\n"
    "Status: this build serves only the gRPC health service (grpc.health.v1); placement, the HTTP "
    "API and the admin API are not built yet.";
}  // namespace

int main(int argc, char** argv) {
  kvc::BlockTerminationSignals();
  kvc::ConductorOptions options;
  kvc::OptionSet set;
  kvc::BindConductorOptions(set, &options);
  int exit_code = 0;
  if (!kvc::ParseCommandLine(argc, argv, "kvc-conductor", kDescription, set, &exit_code)) {
    return exit_code;
  }
  if (kvc::Status s = kvc::ValidateConductorOptions(options); !s.ok()) {
    std::fprintf(stderr, "kvc-conductor: configuration error: %s\n",
                 std::string(s.message()).c_str());
    return 2;
  }
  return kvc::ServeUntilSignalled("conductor", options.server, {});
}

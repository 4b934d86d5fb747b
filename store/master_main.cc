// kvc-master: KV pool metadata service (segments, replicas, leases, eviction, prefix matching).
#include <cstdio>

#include "kvc/store/master_options.h"
#include "kvc/rpc/server.h"

namespace {
constexpr const char* kDescription =
    "kvc-master: KV pool metadata service (segments, replicas, leases, eviction, prefix matching).\n"
    "Status: this build serves only the gRPC health service (grpc.health.v1); the StoreMaster service is not built yet.";
}  // namespace

int main(int argc, char** argv) {
  kvc::BlockTerminationSignals();
  kvc::MasterOptions options;
  kvc::OptionSet set;
  kvc::BindMasterOptions(set, &options);
  int exit_code = 0;
  if (!kvc::ParseCommandLine(argc, argv, "kvc-master", kDescription, set, &exit_code)) {
    return exit_code;
  }
  if (kvc::Status s = kvc::ValidateMasterOptions(options); !s.ok()) {
    std::fprintf(stderr, "kvc-master: configuration error: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  return kvc::ServeUntilSignalled("master", options.server, {});
}

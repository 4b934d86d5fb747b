// kvc-store: capacity node contributing DRAM/SSD to the KV pool.
#include <cstdio>

#include "kvc/store/store_options.h"
#include "kvc/rpc/server.h"

namespace {
constexpr const char* kDescription =
    "kvc-store: capacity node contributing DRAM/SSD to the KV pool.\n"
    "Status: this build serves only the gRPC health service (grpc.health.v1); the segment server is not built yet.";
}  // namespace

int main(int argc, char** argv) {
  kvc::BlockTerminationSignals();
  kvc::StoreOptions options;
  kvc::OptionSet set;
  kvc::BindStoreOptions(set, &options);
  int exit_code = 0;
  if (!kvc::ParseCommandLine(argc, argv, "kvc-store", kDescription, set, &exit_code)) {
    return exit_code;
  }
  if (kvc::Status s = kvc::ValidateStoreOptions(options); !s.ok()) {
    std::fprintf(stderr, "kvc-store: configuration error: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  return kvc::ServeUntilSignalled("store", options.server, {});
}

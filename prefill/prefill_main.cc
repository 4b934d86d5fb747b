// kvc-prefill: prefill instance (prefix reuse from the KV pool, chunked incremental prefill,
// layer-wise KV streaming to decode).
#include <cstdio>

#include "kvc/prefill/options.h"
#include "kvc/rpc/server.h"

namespace {
constexpr const char* kDescription =
    "kvc-prefill: prefill instance (prefix reuse from the KV pool, chunked incremental prefill, "
    "layer-wise KV streaming to decode).\n"
    "Status: this build serves only the gRPC health service (grpc.health.v1); the Prefill service "
    "is not built yet.";
}  // namespace

int main(int argc, char** argv) {
  kvc::BlockTerminationSignals();
  kvc::PrefillOptions options;
  kvc::OptionSet set;
  kvc::BindPrefillOptions(set, &options);
  int exit_code = 0;
  if (!kvc::ParseCommandLine(argc, argv, "kvc-prefill", kDescription, set, &exit_code)) {
    return exit_code;
  }
  if (kvc::Status s = kvc::ValidatePrefillOptions(options); !s.ok()) {
    std::fprintf(stderr, "kvc-prefill: configuration error: %s\n",
                 std::string(s.message()).c_str());
    return 2;
  }
  return kvc::ServeUntilSignalled("prefill", options.server, {});
}

// kvc-decode: decode instance (paged KV reservation, continuous-batch decoding, token streaming).
#include <cstdio>

#include "kvc/decode/options.h"
#include "kvc/rpc/server.h"

namespace {
constexpr const char* kDescription =
    "kvc-decode: decode instance (paged KV reservation, continuous-batch decoding, token "
    "streaming).\n"
    "Status: this build serves only the gRPC health service (grpc.health.v1); the Decode service "
    "is not built yet.";
}  // namespace

int main(int argc, char** argv) {
  kvc::BlockTerminationSignals();
  kvc::DecodeOptions options;
  kvc::OptionSet set;
  kvc::BindDecodeOptions(set, &options);
  int exit_code = 0;
  if (!kvc::ParseCommandLine(argc, argv, "kvc-decode", kDescription, set, &exit_code)) {
    return exit_code;
  }
  if (kvc::Status s = kvc::ValidateDecodeOptions(options); !s.ok()) {
    std::fprintf(stderr, "kvc-decode: configuration error: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  return kvc::ServeUntilSignalled("decode", options.server, {});
}

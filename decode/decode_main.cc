// kvc-decode: decode instance (paged KV reservation, continuous-batch decoding, token streaming).
#include <cstdio>

#include "kvc/common/ids.h"
#include "kvc/decode/options.h"
#include "kvc/rpc/node_agent.h"
#include "kvc/rpc/server.h"

namespace {
constexpr const char* kDescription =
    "kvc-decode: decode instance (paged KV reservation, continuous-batch decoding, token "
    "streaming).\n"
    "Status: serves gRPC health and, with --conductor-address, registers with the conductor "
    "and heartbeats (load reported as zeros); the Decode service is not built yet.";
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
  if (options.server.node_id.empty()) options.server.node_id = kvc::NewNodeId("decode");
  std::unique_ptr<kvc::NodeAgent> agent;
  kvc::ServeHooks hooks;
  hooks.on_serving = [&](const std::string& address) {
    // No engine yet: the reported load is all zeros.
    agent =
        kvc::StartMembership(options.membership, kvc::v1::NODE_ROLE_DECODE, options.server.node_id,
                             address, [] { return kvc::v1::NodeLoad(); });
  };
  hooks.on_stopping = [&] {
    if (agent) agent->Stop();
  };
  return kvc::ServeUntilSignalled("decode", options.server, {}, hooks);
}

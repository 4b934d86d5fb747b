// kvc-prefill: prefill instance (prefix reuse from the KV pool, chunked incremental prefill,
// layer-wise KV streaming to decode).
#include <cstdio>

#include "kvc/common/ids.h"
#include "kvc/prefill/options.h"
#include "kvc/rpc/node_agent.h"
#include "kvc/rpc/server.h"

namespace {
constexpr const char* kDescription =
    "kvc-prefill: prefill instance (prefix reuse from the KV pool, chunked incremental prefill, "
    "layer-wise KV streaming to decode).\n"
    "Status: serves gRPC health and, with --conductor-address, registers with the conductor "
    "and heartbeats (load reported as zeros); the Prefill service is not built yet.";
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
  if (options.server.node_id.empty()) options.server.node_id = kvc::NewNodeId("prefill");
  std::unique_ptr<kvc::NodeAgent> agent;
  kvc::ServeHooks hooks;
  hooks.on_serving = [&](const std::string& address) {
    // No engine yet: the reported load is all zeros.
    agent =
        kvc::StartMembership(options.membership, kvc::v1::NODE_ROLE_PREFILL, options.server.node_id,
                             address, [] { return kvc::v1::NodeLoad(); });
  };
  hooks.on_stopping = [&] {
    if (agent) agent->Stop();
  };
  return kvc::ServeUntilSignalled("prefill", options.server, {}, hooks);
}

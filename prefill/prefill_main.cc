// kvc-prefill: prefill instance (prefix reuse from the KV pool, chunked incremental prefill,
// layer-wise KV streaming to decode).
#include <cstdio>

#include "kvc/common/logging.h"
#include "kvc/prefill/options.h"
#include "kvc/rpc/server.h"
#include "kvc/worker/worker_node.h"

namespace {
constexpr const char* kDescription =
    "kvc-prefill: prefill instance (prefix reuse from the KV pool, chunked incremental prefill, "
    "layer-wise\nKV streaming to decode).\n"
    "Runs an engine (cpu|cuda|sim) on the model, registers its KV cache with the transfer "
    "engine,\nadds DRAM to the KV pool (kvc-master), serves gRPC and registers with the "
    "conductor.";
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
  if (kvc::Status s = kvc::SetLogLevel(options.node.server.log_level); !s.ok()) {
    std::fprintf(stderr, "kvc-prefill: configuration error: %s\n",
                 std::string(s.message()).c_str());
    return 2;
  }
  auto node = kvc::worker::WorkerNode::Create(options.node, kvc::v1::NODE_ROLE_PREFILL);
  if (!node.ok()) {
    std::fprintf(stderr, "kvc-prefill: %s\n", node.status().ToString().c_str());
    return 1;
  }
  kvc::worker::WorkerNode& n = **node;
  options.worker.model_id = n.model_id();  // block keys are chained from the served id
  options.worker.node_id = n.node_id();    // blocks held here are local, not fetched
  auto worker =
      kvc::prefill::PrefillWorker::Create(options.worker, n.engine(), n.transfer(), n.store());
  if (!worker.ok()) {
    std::fprintf(stderr, "kvc-prefill: %s\n", worker.status().ToString().c_str());
    return 1;
  }
  kvc::prefill::PrefillWorker& w = **worker;
  return n.Serve(
      {w.service()}, [&w] { return w.Load(); }, [&w] { w.Shutdown(); });
}

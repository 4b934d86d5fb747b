// kvc-prefill: prefill instance (prefix reuse from the KV pool, chunked incremental prefill,
// layer-wise KV streaming to decode).
#include "kvc/prefill/options.h"
#include "kvc/worker/worker_main.h"

namespace {
constexpr const char* kDescription =
    "kvc-prefill: prefill instance (prefix reuse from the KV pool, chunked incremental prefill, "
    "layer-wise\nKV streaming to decode).\n"
    "Runs an engine (cpu|cuda|sim) on the model, registers its KV cache with the transfer "
    "engine,\nadds DRAM to the KV pool (kvc-master), serves gRPC and registers with the "
    "conductor.";
}  // namespace

int main(int argc, char** argv) {
  kvc::PrefillOptions options;
  return kvc::worker::WorkerMain(
      argc, argv,
      {"kvc-prefill", kDescription,
       [&](kvc::OptionSet& set) { kvc::BindPrefillOptions(set, &options); },
       [&] { return kvc::ValidatePrefillOptions(options); }, &options.node.server.log_level,
       [&] { return kvc::worker::WorkerExposure(options.node); }, &options.node.server.tls},
      options.node, kvc::v1::NODE_ROLE_PREFILL,
      [&](kvc::worker::WorkerNode& n) -> kvc::StatusOr<kvc::worker::WorkerService> {
        options.worker.model_id = n.model_id();  // block keys are chained from the served id
        options.worker.node_id = n.node_id();    // blocks held here are local, not fetched
        KVC_ASSIGN_OR_RETURN(std::shared_ptr<kvc::prefill::PrefillWorker> w,
                             kvc::prefill::PrefillWorker::Create(options.worker, n.engine(),
                                                                 n.transfer(), n.store()));
        return kvc::worker::WorkerService{w->service(), [w] { return w->Load(); },
                                          [w] { w->Shutdown(); }, w};
      });
}

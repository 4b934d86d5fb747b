// kvc-decode: decode instance (paged KV reservation, continuous-batch decoding, token streaming).
#include "kvc/decode/options.h"
#include "kvc/worker/worker_main.h"

namespace {
constexpr const char* kDescription =
    "kvc-decode: decode instance (paged KV reservation, continuous-batch decoding, token "
    "streaming).\n"
    "Runs an engine (cpu|cuda|sim) on the model, registers its KV cache with the transfer "
    "engine,\nadds DRAM to the KV pool (kvc-master), serves gRPC and registers with the "
    "conductor.";
}  // namespace

int main(int argc, char** argv) {
  kvc::DecodeOptions options;
  return kvc::worker::WorkerMain(
      argc, argv,
      {"kvc-decode", kDescription,
       [&](kvc::OptionSet& set) { kvc::BindDecodeOptions(set, &options); },
       [&] { return kvc::ValidateDecodeOptions(options); }, &options.node.server.log_level,
       [&] { return kvc::worker::WorkerExposure(options.node); }, &options.node.server.tls},
      options.node, kvc::v1::NODE_ROLE_DECODE,
      [&](kvc::worker::WorkerNode& n) -> kvc::StatusOr<kvc::worker::WorkerService> {
        KVC_ASSIGN_OR_RETURN(
            std::shared_ptr<kvc::decode::DecodeWorker> w,
            kvc::decode::DecodeWorker::Create(options.worker, n.engine(), n.transfer()));
        return kvc::worker::WorkerService{w->service(), [w] { return w->Load(); },
                                          [w] { w->Shutdown(); }, w};
      });
}

// kvc-decode: decode instance (paged KV reservation, continuous-batch decoding, token streaming).
#include <cstdio>

#include "kvc/common/logging.h"
#include "kvc/decode/options.h"
#include "kvc/rpc/server.h"
#include "kvc/worker/worker_node.h"

namespace {
constexpr const char* kDescription =
    "kvc-decode: decode instance (paged KV reservation, continuous-batch decoding, token "
    "streaming).\n"
    "Runs an engine (cpu|cuda|sim) on the model, registers its KV cache with the transfer "
    "engine,\nadds DRAM to the KV pool (kvc-master), serves gRPC and registers with the "
    "conductor.";
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
  if (kvc::Status s = kvc::SetLogLevel(options.node.server.log_level); !s.ok()) {
    std::fprintf(stderr, "kvc-decode: configuration error: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  auto node = kvc::worker::WorkerNode::Create(options.node, kvc::v1::NODE_ROLE_DECODE);
  if (!node.ok()) {
    std::fprintf(stderr, "kvc-decode: %s\n", node.status().ToString().c_str());
    return 1;
  }
  kvc::worker::WorkerNode& n = **node;
  auto worker = kvc::decode::DecodeWorker::Create(options.worker, n.engine(), n.transfer());
  if (!worker.ok()) {
    std::fprintf(stderr, "kvc-decode: %s\n", worker.status().ToString().c_str());
    return 1;
  }
  kvc::decode::DecodeWorker& w = **worker;
  return n.Serve(
      {w.service()}, [&w] { return w.Load(); }, [&w] { w.Shutdown(); });
}

// main() of a worker role (kvc-prefill, kvc-decode), shared: StartRole (signals,
// flags, config file, validation, log level), the WorkerNode, then the role's
// worker built on that node, served until SIGTERM/SIGINT.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>

#include "kvc/common/status.h"
#include "kvc/rpc/process_main.h"
#include "kvc/worker/worker_node.h"

namespace kvc::worker {

// A role's worker as the node serves it.
struct WorkerService {
  grpc::Service* service = nullptr;    // the role's gRPC service (owned by `owner`)
  std::function<v1::NodeLoad()> load;  // the load reported in heartbeats
  std::function<void()> shutdown;      // ends streams, stops the worker's threads
  std::shared_ptr<void> owner;         // keeps the worker alive while it is served
};

// Builds the role's worker on `node` (borrowed; it outlives the worker).
using MakeWorker = std::function<StatusOr<WorkerService>(WorkerNode& node)>;

// The whole main(): returns the process exit code (0 clean stop or --help, 1 a
// start-up failure or serving failed, 2 a configuration error). `node_options`
// is read after `role` has parsed and validated it. The worker is destroyed
// before the node.
int WorkerMain(int argc, char** argv, const RoleMain& role, const WorkerNodeOptions& node_options,
               v1::NodeRole node_role, const MakeWorker& make_worker);

}  // namespace kvc::worker

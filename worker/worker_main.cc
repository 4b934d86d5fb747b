#include "kvc/worker/worker_main.h"

namespace kvc::worker {

int WorkerMain(int argc, char** argv, const RoleMain& role, const WorkerNodeOptions& node_options,
               v1::NodeRole node_role, const MakeWorker& make_worker) {
  int exit_code = 0;
  if (!StartRole(argc, argv, role, &exit_code)) return exit_code;
  StatusOr<std::unique_ptr<WorkerNode>> node = WorkerNode::Create(node_options, node_role);
  if (!node.ok()) return StartupFailure(role.program, node.status());
  int code = kExitFailure;
  {
    StatusOr<WorkerService> worker = make_worker(**node);
    if (!worker.ok()) return StartupFailure(role.program, worker.status());
    code = (*node)->Serve({worker->service}, worker->load, worker->shutdown);
  }  // the worker goes first: it uses the node's engine and transfer engine
  return code;
}

}  // namespace kvc::worker

#include "kvc/rpc/server.h"

#include <signal.h>

#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "kvc/common/ids.h"
#include "kvc/common/logging.h"
#include "kvc/rpc/tls.h"

namespace kvc {

void BindServerOptions(OptionSet& set, ServerOptions* o, const std::string& default_listen) {
  o->listen_address = default_listen;
  set.Add("listen_address", &o->listen_address,
          "gRPC listen address host:port (port 0 = ephemeral)");
  set.Add("port_file", &o->port_file, "write the bound gRPC port to this file once serving");
  set.Add("log_level", &o->log_level, "trace|debug|info|warn|error|critical|off");
  set.Add("node_id", &o->node_id, "stable node id (generated when empty)");
  set.Add("shutdown_grace_ms", &o->shutdown_grace_ms,
          "milliseconds in-flight RPCs may run after SIGTERM before they are cancelled");
  set.Add("insecure", &o->insecure,
          "start even when a non-loopback listener has no cluster token (conductor: or no "
          "admin token); logs a warning at every start");
  BindTlsOptions(set, &o->tls);
}

Status ValidateHostPort(const std::string& field, const std::string& value) {
  const size_t colon = value.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": '", value, "' is not host:port (e.g. 127.0.0.1:50051)"));
  }
  uint32_t port = 0;
  if (!absl::SimpleAtoi(value.substr(colon + 1), &port) || port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": '", value, "' has no valid port (0..65535)"));
  }
  return Status();
}

Status ValidateServerOptions(const ServerOptions& o) {
  KVC_RETURN_IF_ERROR(ValidateHostPort("listen_address", o.listen_address));
  KVC_RETURN_IF_ERROR(ValidateTlsOptions(o.tls));
  if (o.shutdown_grace_ms > 60'000) {
    return absl::InvalidArgumentError(
        absl::StrCat("shutdown_grace_ms: ", o.shutdown_grace_ms, " is over the 60000 ms limit"));
  }
  return Status();
}

void BlockTerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int WaitForTerminationSignal() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  int sig = 0;
  while (sigwait(&set, &sig) != 0) {
  }
  return sig;
}

StatusOr<std::unique_ptr<RunningServer>> RunningServer::Start(
    const std::string& role, const ServerOptions& options,
    const std::vector<grpc::Service*>& services) {
  grpc::ServerBuilder builder;
  // Without this, gRPC sets SO_REUSEPORT and a second server on a taken port
  // would silently share it instead of failing.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // The sync server keeps at most MAX_POLLERS idle threads (gRPC's default: 2) and
  // ends any thread above that when its call returns, so a few concurrent clients
  // made it create and end a thread per call (1113 threads in a 3 s store put
  // benchmark). Idle pollers cost a parked thread each; 16 covers the load of a
  // busy master without the churn.
  builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, 16);
  int port = 0;
  builder.AddListeningPort(options.listen_address, ProcessServerCredentials(), &port);
  std::unique_ptr<RunningServer> out(new RunningServer());
  builder.RegisterService(&out->health_);
  for (grpc::Service* s : services) builder.RegisterService(s);
  out->server_ = builder.BuildAndStart();
  if (!out->server_ || port == 0) {
    return absl::UnavailableError(absl::StrCat(role, ": cannot listen on ", options.listen_address,
                                               " (address in use or not local?)"));
  }
  out->port_ = port;
  out->address_ =
      absl::StrCat(options.listen_address.substr(0, options.listen_address.rfind(':')), ":", port);
  return out;
}

void RunningServer::Shutdown(uint32_t grace_ms) {
  if (shut_down_ || !server_) return;
  shut_down_ = true;
  health_.Shutdown();
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(grace_ms));
  server_->Wait();
}

RunningServer::~RunningServer() { Shutdown(0); }

int ServeUntilSignalled(const std::string& role, const ServerOptions& options,
                        const std::vector<grpc::Service*>& services, const ServeHooks& hooks) {
  auto log = Logger(role);
  if (Status s = SetLogLevel(options.log_level); !s.ok()) {
    log->error("{}", s.message());
    return 2;
  }
  const std::string node_id = options.node_id.empty() ? NewNodeId(role) : options.node_id;
  auto server = RunningServer::Start(role, options, services);
  if (!server.ok()) {
    log->error("{}", server.status().message());
    return 1;
  }
  if (!options.port_file.empty()) {
    if (Status s = WritePortFile(options.port_file, (*server)->port()); !s.ok()) {
      log->error("{}", s.message());
      return 1;
    }
  }
  log->info("{} {} serving gRPC on {}", role, node_id, (*server)->address());
  std::printf("kvc-%s listening on %s\n", role.c_str(), (*server)->address().c_str());
  std::fflush(stdout);
  if (hooks.on_serving) hooks.on_serving((*server)->address());
  const int sig = WaitForTerminationSignal();
  log->info("received {}, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  if (hooks.on_stopping) hooks.on_stopping();
  (*server)->Shutdown(options.shutdown_grace_ms);
  log->info("stopped");
  return 0;
}

}  // namespace kvc

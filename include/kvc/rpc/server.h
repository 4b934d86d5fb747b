// Running a role's gRPC server: bind, serve the standard health service
// (grpc.health.v1) plus the role's own services, report the bound address, and
// stop cleanly on SIGTERM/SIGINT.
#pragma once

#include <grpcpp/grpcpp.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kvc/common/config.h"
#include "kvc/common/port_file.h"  // WritePortFile, used by every role
#include "kvc/common/status.h"
#include "kvc/rpc/health_service.h"
#include "kvc/rpc/tls.h"

namespace kvc {

// Options every server role shares.
struct ServerOptions {
  std::string listen_address = "127.0.0.1:0";  // host:port of the gRPC server; port 0 = ephemeral
  std::string port_file;              // when set, the bound port is written here once serving
  std::string log_level = "info";     // trace|debug|info|warn|error|critical|off
  std::string node_id;                // stable id of this process; generated when empty
  uint32_t shutdown_grace_ms = 1000;  // in-flight RPCs get this long after SIGTERM
  // Start even when a non-loopback listener lacks its secrets (cluster token,
  // admin token); logs a warning at every start. For trusted test networks only.
  bool insecure = false;
  // gRPC TLS of this process, server and every channel (tls.*, kvc/rpc/tls.h);
  // StartRole applies it process-wide.
  TlsOptions tls;
};

// Binds the shared options; `default_listen` replaces the listen default.
void BindServerOptions(OptionSet& set, ServerOptions* options, const std::string& default_listen);
// Checks the shared options; errors name the field.
[[nodiscard]] Status ValidateServerOptions(const ServerOptions& options);
// Checks "host:port" with a port in 0..65535; `field` names the option in errors.
[[nodiscard]] Status ValidateHostPort(const std::string& field, const std::string& value);

// Blocks SIGTERM and SIGINT in the calling thread and every thread it creates
// later, so WaitForTerminationSignal() receives them. Call first thing in main().
void BlockTerminationSignals();
// Waits until SIGTERM or SIGINT arrives; returns the signal number.
int WaitForTerminationSignal();

// A started gRPC server. Not copyable; Shutdown() is idempotent and thread-safe.
class RunningServer {
 public:
  // Binds `options.listen_address` and serves health plus `services` (borrowed:
  // they must outlive the server). Fails when the address cannot be bound.
  static StatusOr<std::unique_ptr<RunningServer>> Start(
      const std::string& role, const ServerOptions& options,
      const std::vector<grpc::Service*>& services);
  ~RunningServer();
  RunningServer(const RunningServer&) = delete;
  RunningServer& operator=(const RunningServer&) = delete;

  int port() const { return port_; }
  HealthService& health() { return health_; }
  std::string address() const { return address_; }
  // Marks health NOT_SERVING, then stops, cancelling RPCs still running after
  // `grace_ms`.
  void Shutdown(uint32_t grace_ms);

 private:
  RunningServer() = default;
  HealthService health_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
  std::string address_;
  bool shut_down_ = false;
};

// Optional steps around the serving phase of ServeUntilSignalled.
struct ServeHooks {
  // Runs once the server is bound, with its "host:port" (e.g. to register with
  // the conductor).
  std::function<void(const std::string& address)> on_serving;
  // Runs after SIGTERM/SIGINT, before the server stops (e.g. to deregister).
  std::function<void()> on_stopping;
};

// The whole life of a server role: start, log and report the address, wait for
// SIGTERM/SIGINT, shut down. Returns the process exit code (0 on a clean stop).
// REQUIRES: BlockTerminationSignals() was called before any thread started.
int ServeUntilSignalled(const std::string& role, const ServerOptions& options,
                        const std::vector<grpc::Service*>& services, const ServeHooks& hooks = {});

}  // namespace kvc

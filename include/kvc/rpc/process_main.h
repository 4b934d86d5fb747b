// The start of every kvc server role's main() (kvc-master, kvc-store,
// kvc-conductor, kvc-prefill, kvc-decode), and the exit codes they share:
//
//   int main(int argc, char** argv) {
//     kvc::MasterOptions options;
//     int exit_code = 0;
//     if (!kvc::StartRole(argc, argv,
//                         {"kvc-master", kDescription,
//                          [&](kvc::OptionSet& set) { kvc::BindMasterOptions(set, &options); },
//                          [&] { return kvc::ValidateMasterOptions(options); },
//                          &options.server.log_level},
//                         &exit_code)) {
//       return exit_code;
//     }
//     ...
//
// Exit codes: 0 clean stop or --help; 1 a start-up or run-time failure (a port
// taken, a model that does not load); 2 a usage or configuration error.
#pragma once

#include <functional>
#include <string>

#include "kvc/common/config.h"
#include "kvc/common/status.h"
#include "kvc/rpc/exposure.h"
#include "kvc/rpc/tls.h"

namespace kvc {

inline constexpr int kExitFailure = 1;
inline constexpr int kExitConfigurationError = 2;

struct RoleMain {
  std::string program;                   // "kvc-prefill": the --help title and the prefix of errors
  std::string description;               // --help text
  std::function<void(OptionSet&)> bind;  // binds the role's Options fields
  std::function<Status()> validate;      // checks the parsed options; errors name the field
  const std::string* log_level = nullptr;  // the parsed log level (read after validation)
  // What the role listens on and the secrets guarding it (read after validation):
  // StartRole refuses a non-loopback listener without them (exit 2) unless
  // insecure, and logs InsecureWarning at every start with insecure.
  std::function<Exposure()> exposure;
  // The parsed gRPC TLS options (read after validation): StartRole makes them
  // the process's (SetProcessTls) before main() creates any server or channel.
  const TlsOptions* tls = nullptr;
};

// Blocks SIGTERM and SIGINT (BlockTerminationSignals, so main() receives them
// with WaitForTerminationSignal; call StartRole before any thread starts), then
// parses flags, the config file (--config / KVC_CONFIG) and KVC_* variables into
// the options, validates them, applies the secure-by-default rule
// (CheckExposure on role.exposure) and sets the log level. Returns true when
// main() goes on; false with `*exit_code` set when it must exit now: 0 after
// --help, 2 after a usage or configuration error (printed to stderr).
bool StartRole(int argc, char** argv, const RoleMain& role, int* exit_code);

// Prints "<program>: configuration error: <message>" to stderr; returns 2.
int ConfigurationError(const std::string& program, const Status& status);
// Prints "<program>: <status>" to stderr; returns 1.
int StartupFailure(const std::string& program, const Status& status);

}  // namespace kvc

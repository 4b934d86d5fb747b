#include "kvc/rpc/process_main.h"

#include <cstdio>

#include "kvc/common/logging.h"
#include "kvc/rpc/server.h"

namespace kvc {

int ConfigurationError(const std::string& program, const Status& status) {
  std::fprintf(stderr, "%s: configuration error: %s\n", program.c_str(),
               std::string(status.message()).c_str());
  return kExitConfigurationError;
}

int StartupFailure(const std::string& program, const Status& status) {
  std::fprintf(stderr, "%s: %s\n", program.c_str(), status.ToString().c_str());
  return kExitFailure;
}

bool StartRole(int argc, char** argv, const RoleMain& role, int* exit_code) {
  BlockTerminationSignals();
  OptionSet set;
  role.bind(set);
  if (!ParseCommandLine(argc, argv, role.program, role.description, set, exit_code)) return false;
  Status s = role.validate();
  const Exposure exposure = s.ok() && role.exposure ? role.exposure() : Exposure();
  if (s.ok()) s = CheckExposure(exposure);
  if (s.ok() && role.log_level != nullptr) s = SetLogLevel(*role.log_level);
  if (s.ok() && role.tls != nullptr) s = SetProcessTls(*role.tls);
  if (!s.ok()) {
    *exit_code = ConfigurationError(role.program, s);
    return false;
  }
  if (const std::string warning = InsecureWarning(role.program, exposure); !warning.empty()) {
    Logger(role.program)->warn("{}", warning);
  }
  return true;
}

}  // namespace kvc

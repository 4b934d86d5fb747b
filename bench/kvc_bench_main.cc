// kvc-bench: micro-benchmarks of kvc components and trace replay.
// Each subcommand lives in its own file and registers itself with one line below.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>
#include <vector>

#include "bench/bench_command.h"
#include "bench/replay/replay_command.h"
#include "bench/store_bench.h"
#include "bench/transfer_bench.h"
#include "kvc/common/config.h"
#include "kvc/common/logging.h"
#include "kvc/rpc/process_main.h"

int main(int argc, char** argv) {
  std::string log_level = "warn";
  kvc::OptionSet set;
  set.Add("log_level", &log_level, "trace|debug|info|warn|error|critical|off");
  CLI::App app(
      "kvc-bench: micro-benchmarks of the transfer engine (and later the store) and trace "
      "replay.\nSubcommands: transfer, store, replay.",
      "kvc-bench");
  set.AttachTo(app);
  app.require_subcommand(1);
  std::vector<kvc::bench::BenchCommand> commands;
  commands.push_back(kvc::bench::RegisterTransferCommand(app));
  commands.push_back(kvc::bench::RegisterStoreCommand(app));
  commands.push_back(kvc::bench::RegisterReplayCommand(app));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (kvc::Status s = set.Resolve(); !s.ok()) {
    return kvc::ConfigurationError("kvc-bench", s);
  }
  if (kvc::Status s = kvc::SetLogLevel(log_level); !s.ok()) {
    std::fprintf(stderr, "kvc-bench: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  for (const auto& command : commands) {
    if (command.subcommand->parsed()) return command.run();
  }
  return 2;
}

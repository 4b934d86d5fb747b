// How kvc-bench subcommands plug in: each lives in its own file and exposes one
// Register<Name>Command(CLI::App&) that adds a subcommand and returns the function
// running it once the command line is parsed. kvc_bench_main.cc calls each
// Register function once (one line per subcommand).
#pragma once

#include <functional>

namespace CLI {
class App;
}

namespace kvc::bench {

struct BenchCommand {
  CLI::App* subcommand = nullptr;  // owned by the parent app
  std::function<int()> run;        // returns the process exit code
};

}  // namespace kvc::bench

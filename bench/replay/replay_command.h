// `kvc-bench replay`: open-loop trace replay against an OpenAI-compatible server.
#pragma once

#include <CLI/CLI.hpp>

#include "bench/bench_command.h"

namespace kvc::bench {

BenchCommand RegisterReplayCommand(CLI::App& app);

}  // namespace kvc::bench

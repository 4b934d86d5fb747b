// The kvc-sim command line: `run`, `cache-curve` and `sweep` (docs/scheduling.md).
// Results go to stdout (the last line of `run` is one JSON object), diagnostics to stderr.
#pragma once

namespace kvc::sim {

// Returns the exit code: 0 success (and --help), 2 bad flags / options / trace,
// 1 when results could not be written.
int RunSimCli(int argc, char** argv);

}  // namespace kvc::sim

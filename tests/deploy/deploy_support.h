// Test support for deploy/: paths into the source tree, running the container
// entrypoint and other scripts as child processes with an explicit environment
// (env -i: nothing leaks in from the test's own environment), and a few file helpers.
// Not thread-safe.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/subprocess.h"

namespace kvc::testing {

using Env = std::map<std::string, std::string>;

// The checkout (compiled in) and files in it, e.g. Source("deploy/config/master.yaml").
std::string Source(const std::string& relative);

// Starts deploy/container/kvc-entrypoint.sh with `args` (e.g. {"master"}) and exactly
// `env` plus PATH, HOME (= `home`) and KVC_BIN_DIR (= BinDir()); output to `log`.
std::unique_ptr<Subprocess> StartEntrypoint(const std::vector<std::string>& args, const Env& env,
                                            const std::string& home, const std::string& log);

struct CommandResult {
  int exit_code = -1;  // -1: killed by a signal or past the deadline
  std::string output;  // stdout and stderr together
};

// Runs `argv` with exactly `env` plus PATH (and KVC_BIN_DIR = BinDir() unless `env` sets
// it), waits at most `timeout`; `scratch` is a directory for the output file.
CommandResult RunCommand(const std::vector<std::string>& argv, const Env& env,
                         const std::string& scratch,
                         std::chrono::milliseconds timeout = std::chrono::seconds(30));

// Writes `content` to `path` (mode 0600); aborts the test on failure.
void WriteFile(const std::string& path, const std::string& content);

// Waits until `predicate` is true or `timeout` passes; returns its last value.
bool WaitUntil(const std::function<bool()>& predicate, std::chrono::milliseconds timeout);

// Exit status of a reaped child as "exit N" / "signal N" for messages.
std::string DescribeStatus(int wait_status);

}  // namespace kvc::testing

// Processes kvc-local starts and stops: spawned detached (own session, stdin from
// /dev/null, output to a log file) so they outlive `kvc-local up`, and identified
// later by pid AND start time (/proc/<pid>/stat field 22) AND executable, so `down`
// never signals a process that merely reused a pid. Linux only.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "kvc/common/status.h"

namespace kvc::local {

// One started process as recorded in the run dir.
struct ProcessRecord {
  std::string name;    // "master", "conductor", "prefill-0", ...
  std::string binary;  // absolute path of the executable
  pid_t pid = 0;
  uint64_t start_time = 0;  // /proc/<pid>/stat field 22 (clock ticks since boot)
  std::string log;          // stdout + stderr
  std::string port_file;    // where it writes its gRPC port
};

// Starts `argv` (argv[0] an absolute path) in a new session with `env` added to
// the environment ("KEY=VALUE"), output appended to `log`. Fills pid and start time.
StatusOr<ProcessRecord> Spawn(const std::string& name, const std::vector<std::string>& argv,
                              const std::vector<std::string>& env, const std::string& log);

// /proc/<pid>/stat field 22, or 0 when the process does not exist.
uint64_t ProcessStartTime(pid_t pid);

// True when the recorded process still runs: same pid, same start time, same
// executable (/proc/<pid>/exe; "(deleted)" suffix tolerated after a rebuild).
// Zombies count as gone.
bool IsAlive(const ProcessRecord& record);

// Sends SIGTERM to every live recorded process, waits up to `grace` for all to go,
// then SIGKILLs the rest and waits up to 2 s more. Reaps children of this process.
// Returns the names of processes that needed SIGKILL.
std::vector<std::string> StopAll(const std::vector<ProcessRecord>& records,
                                 std::chrono::milliseconds grace);

// The last `lines` lines of a file ("" when unreadable).
std::string Tail(const std::string& path, int lines);

}  // namespace kvc::local

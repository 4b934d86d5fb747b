// Test support: run a kvc binary as a child process, with deadlines on every wait.
// The destructor kills (SIGKILL) and reaps a child that is still running, so a
// failing test never leaves processes behind. Not thread-safe.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace kvc::testing {

// The directory holding kvc binaries: $KVC_BIN_DIR (set by ctest), else the
// bin/ folder beside the test binary's tests/ folder.
std::string BinDir();

// A fresh, empty temporary directory, removed by the destructor.
class TempDir {
 public:
  TempDir();
  // Under `parent` instead of the system temp directory (e.g. /dev/shm).
  explicit TempDir(const std::string& parent);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class Subprocess {
 public:
  // Starts `argv[0]` (a path) with `argv`; stdout and stderr go to `log_path`
  // when non-empty. Aborts the test process if fork/exec setup fails.
  Subprocess(std::vector<std::string> argv, const std::string& log_path = "");
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  bool Signal(int sig);
  // Waits up to `timeout` for exit; returns the wait status, or nullopt on timeout.
  std::optional<int> WaitFor(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
};

// Waits up to `timeout` for `path` to hold an integer port; returns 0 on timeout.
int WaitForPortFile(const std::string& path, std::chrono::milliseconds timeout);

// Reads a whole file ("" when missing).
std::string ReadFile(const std::string& path);

}  // namespace kvc::testing

#include "local/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace kvc::local {
namespace {

// Reads /proc/<pid>/stat fields after the "(comm)"; state is field 3.
bool ReadStat(pid_t pid, char* state, uint64_t* start_time) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return false;
  std::vector<std::string> f = absl::StrSplit(text.substr(close + 2), ' ');
  if (f.size() < 20) return false;  // f[0] = field 3 (state), f[19] = field 22 (starttime)
  *state = f[0].empty() ? '?' : f[0][0];
  *start_time = std::strtoull(f[19].c_str(), nullptr, 10);
  return true;
}

std::string ExeOf(pid_t pid) {
  std::error_code ec;
  std::string exe =
      std::filesystem::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec).string();
  const std::string deleted = " (deleted)";
  if (exe.size() > deleted.size() && exe.ends_with(deleted))
    exe.resize(exe.size() - deleted.size());
  return exe;
}

// `status_fd` is close-on-exec: the parent reads EOF once exec succeeded, or errno.
[[noreturn]] void ExecChild(const std::vector<std::string>& argv,
                            const std::vector<std::string>& env, int log_fd, int status_fd) {
  setsid();
  const int null_fd = open("/dev/null", O_RDONLY);
  if (null_fd >= 0) dup2(null_fd, 0);
  dup2(log_fd, 1);
  dup2(log_fd, 2);
  // kvc-local blocks nothing, but reset the mask so the child sees a clean state.
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);
  for (const std::string& kv : env) putenv(const_cast<char*>(kv.c_str()));
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  execv(args[0], args.data());
  const int err = errno;
  (void)!write(status_fd, &err, sizeof(err));
  _exit(127);
}

}  // namespace

StatusOr<ProcessRecord> Spawn(const std::string& name, const std::vector<std::string>& argv,
                              const std::vector<std::string>& env, const std::string& log) {
  if (argv.empty() || access(argv[0].c_str(), X_OK) != 0) {
    return absl::NotFoundError(
        absl::StrCat(name, ": executable '", argv.empty() ? "" : argv[0], "' not found"));
  }
  const int log_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (log_fd < 0) return absl::PermissionDeniedError("cannot open log " + log);
  int status_pipe[2];
  if (pipe2(status_pipe, O_CLOEXEC) != 0) {
    close(log_fd);
    return absl::ResourceExhaustedError("pipe failed for " + name);
  }
  const pid_t pid = fork();
  if (pid < 0) {
    close(log_fd);
    close(status_pipe[0]);
    close(status_pipe[1]);
    return absl::ResourceExhaustedError("fork failed for " + name);
  }
  if (pid == 0) ExecChild(argv, env, log_fd, status_pipe[1]);
  close(log_fd);
  close(status_pipe[1]);
  int err = 0;
  const ssize_t n = read(status_pipe[0], &err, sizeof(err));  // EOF = exec succeeded
  close(status_pipe[0]);
  if (n == sizeof(err)) {
    (void)waitpid(pid, nullptr, 0);
    return absl::InternalError(absl::StrCat(name, ": cannot exec ", argv[0], ": ", strerror(err)));
  }
  std::error_code ec;
  const std::string binary = std::filesystem::canonical(argv[0], ec).string();
  ProcessRecord r{name, ec ? argv[0] : binary, pid, 0, log, ""};
  // The start time is fixed at fork; read it now, before anything can reuse the pid.
  r.start_time = ProcessStartTime(pid);
  return r;
}

uint64_t ProcessStartTime(pid_t pid) {
  char state = 0;
  uint64_t start = 0;
  return ReadStat(pid, &state, &start) ? start : 0;
}

bool IsAlive(const ProcessRecord& r) {
  if (r.pid <= 0) return false;
  // Reap our own exited children so they do not linger as zombies.
  (void)waitpid(r.pid, nullptr, WNOHANG);
  char state = 0;
  uint64_t start = 0;
  if (!ReadStat(r.pid, &state, &start)) return false;
  if (state == 'Z' || start != r.start_time) return false;
  return ExeOf(r.pid) == r.binary;
}

std::vector<std::string> StopAll(const std::vector<ProcessRecord>& records,
                                 std::chrono::milliseconds grace) {
  for (const auto& r : records) {
    if (IsAlive(r)) kill(r.pid, SIGTERM);
  }
  auto any_alive = [&] {
    for (const auto& r : records) {
      if (IsAlive(r)) return true;
    }
    return false;
  };
  const auto deadline = std::chrono::steady_clock::now() + grace;
  while (any_alive() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::vector<std::string> killed;
  for (const auto& r : records) {
    if (!IsAlive(r)) continue;
    kill(r.pid, SIGKILL);
    killed.push_back(r.name);
  }
  const auto kill_deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
  while (any_alive() && std::chrono::steady_clock::now() < kill_deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return killed;
}

std::string Tail(const std::string& path, int lines) {
  std::ifstream in(path);
  std::deque<std::string> last;
  for (std::string line; std::getline(in, line);) {
    last.push_back(line);
    if (static_cast<int>(last.size()) > lines) last.pop_front();
  }
  std::ostringstream out;
  for (const auto& l : last) out << l << "\n";
  return out.str();
}

}  // namespace kvc::local

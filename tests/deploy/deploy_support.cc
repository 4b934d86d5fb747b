#include "tests/deploy/deploy_support.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <atomic>
#include <fstream>
#include <thread>

namespace kvc::testing {
namespace {

constexpr const char* kPath = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin";

std::vector<std::string> EnvArgv(const Env& env) {
  std::vector<std::string> argv = {"/usr/bin/env", "-i", std::string("PATH=") + kPath};
  if (env.count("KVC_BIN_DIR") == 0) argv.push_back("KVC_BIN_DIR=" + BinDir());
  for (const auto& [key, value] : env) argv.push_back(key + "=" + value);
  return argv;
}

}  // namespace

std::string Source(const std::string& relative) {
  return std::string(KVC_SOURCE_DIR) + "/" + relative;
}

std::unique_ptr<Subprocess> StartEntrypoint(const std::vector<std::string>& args, const Env& env,
                                            const std::string& home, const std::string& log) {
  Env full = env;
  full["HOME"] = home;
  std::vector<std::string> argv = EnvArgv(full);
  argv.push_back(Source("deploy/container/kvc-entrypoint.sh"));
  argv.insert(argv.end(), args.begin(), args.end());
  return std::make_unique<Subprocess>(argv, log);
}

CommandResult RunCommand(const std::vector<std::string>& argv, const Env& env,
                         const std::string& scratch, std::chrono::milliseconds timeout) {
  static std::atomic<int> counter{0};
  const std::string log = scratch + "/command-" + std::to_string(counter++) + ".out";
  std::vector<std::string> full = EnvArgv(env);
  full.insert(full.end(), argv.begin(), argv.end());
  CommandResult result;
  Subprocess proc(full, log);
  const std::optional<int> status = proc.WaitFor(timeout);
  result.output = ReadFile(log);
  if (status && WIFEXITED(*status)) result.exit_code = WEXITSTATUS(*status);
  return result;
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::trunc);
  ASSERT_TRUE(out.good()) << "cannot write " << path;
  out << content;
  out.close();
  chmod(path.c_str(), 0600);
}

bool WaitUntil(const std::function<bool()>& predicate, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!predicate()) {
    if (std::chrono::steady_clock::now() >= deadline) return predicate();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

std::string DescribeStatus(int wait_status) {
  if (WIFEXITED(wait_status)) return "exit " + std::to_string(WEXITSTATUS(wait_status));
  if (WIFSIGNALED(wait_status)) return "signal " + std::to_string(WTERMSIG(wait_status));
  return "status " + std::to_string(wait_status);
}

}  // namespace kvc::testing

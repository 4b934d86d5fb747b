// kvc-local itself: up is refused while its run dir's cluster runs, status reports
// it, down stops exactly the recorded processes (a reused pid is left alone).
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "tests/serving/local_cluster.h"

namespace kvc {
namespace {

// Exists and is not a zombie (an orphan's zombie may linger when pid 1 does not reap).
bool Running(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() && text[close + 2] != 'Z';
}

TEST(KvcLocalTest, UpStatusDownLifecycle) {
  auto cluster = std::make_unique<testing::LocalCluster>(std::vector<std::string>{});
  ASSERT_TRUE(cluster->ok()) << cluster->up_output();
  EXPECT_NE(cluster->up_output().find("http://127.0.0.1:"), std::string::npos);
  std::string out;
  EXPECT_EQ(cluster->RunLocal({"status"}, &out), 0) << out;
  EXPECT_NE(out.find("decode-0"), std::string::npos) << out;
  EXPECT_EQ(cluster->RunLocal({"up", "--http-port", "0"}, &out), 1) << out;
  EXPECT_NE(out.find("already running"), std::string::npos) << out;

  const std::vector<pid_t> pids = {cluster->Pid("master"), cluster->Pid("conductor"),
                                   cluster->Pid("prefill-0"), cluster->Pid("decode-0")};
  for (pid_t p : pids) EXPECT_TRUE(Running(p)) << p;
  // A record whose start time no longer matches (a reused pid) is never signalled:
  // point a fake record at this test process and check it survives `down`.
  const std::string state_path = cluster->run_dir() + "/cluster.json";
  std::ifstream in(state_path);
  auto state = nlohmann::json::parse(in);
  in.close();
  state["processes"].push_back({{"name", "impostor"},
                                {"binary", "/bin/true"},
                                {"pid", getpid()},
                                {"start_time", 1},
                                {"log", ""},
                                {"port_file", ""}});
  std::ofstream(state_path) << state.dump();
  EXPECT_EQ(cluster->RunLocal({"down"}, &out), 0) << out;
  for (pid_t p : pids) EXPECT_FALSE(Running(p)) << "pid " << p << " still runs after down";
  EXPECT_NE(cluster->RunLocal({"status"}, &out), 0) << "no cluster left: " << out;
}

}  // namespace
}  // namespace kvc

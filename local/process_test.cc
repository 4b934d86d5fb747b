#include "local/process.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "local/run_dir.h"

namespace kvc::local {
namespace {

class ProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/kvc-local-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

// A spawned process is alive by pid + start time + binary, and StopAll ends it.
TEST_F(ProcessTest, SpawnIdentifyStop) {
  auto p = Spawn("sleeper", {"/bin/sleep", "30"}, {}, dir_ + "/sleep.log");
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_GT(p->start_time, 0u);
  EXPECT_TRUE(IsAlive(*p)) << "Spawn returns after exec";
  EXPECT_TRUE(StopAll({*p}, std::chrono::seconds(2)).empty()) << "SIGTERM suffices";
  EXPECT_FALSE(IsAlive(*p));
}

// A record whose start time or binary differs is another process: never "alive".
TEST_F(ProcessTest, ReusedPidIsNotOurs) {
  auto self = Spawn("sleeper", {"/bin/sleep", "30"}, {}, dir_ + "/self.log");
  ASSERT_TRUE(self.ok());
  ProcessRecord wrong_time = *self;
  wrong_time.start_time += 1;
  EXPECT_FALSE(IsAlive(wrong_time));
  StopAll({*self}, std::chrono::seconds(2));
  ProcessRecord gone{"gone", "/bin/sleep", 999999999, 1, "", ""};
  EXPECT_FALSE(IsAlive(gone));
  auto p = Spawn("sleeper", {"/bin/sleep", "30"}, {}, dir_ + "/sleep.log");
  ASSERT_TRUE(p.ok());
  ASSERT_TRUE(IsAlive(*p));
  ProcessRecord other_binary = *p;
  other_binary.binary = "/usr/bin/true";
  EXPECT_FALSE(IsAlive(other_binary)) << "same pid and start time, other executable";
  StopAll({*p}, std::chrono::seconds(2));
}

// A process that ignores SIGTERM is SIGKILLed after the grace period.
TEST_F(ProcessTest, StubbornProcessIsKilled) {
  auto p =
      Spawn("stubborn", {"/bin/sh", "-c", "trap '' TERM; sleep 30"}, {}, dir_ + "/stubborn.log");
  ASSERT_TRUE(p.ok());
  usleep(200000);
  auto killed = StopAll({*p}, std::chrono::milliseconds(300));
  ASSERT_EQ(killed.size(), 1u);
  EXPECT_EQ(killed[0], "stubborn");
  EXPECT_FALSE(IsAlive(*p));
}

// A binary that cannot run is an error from Spawn, not a phantom process.
TEST_F(ProcessTest, MissingBinaryIsAnError) {
  EXPECT_FALSE(Spawn("x", {"/nonexistent/kvc-x"}, {}, dir_ + "/x.log").ok());
}

// Tokens are created once, 0600, and read back unchanged.
TEST_F(ProcessTest, TokensArePrivateAndStable) {
  auto t1 = LoadOrCreateToken(dir_, "cluster.token");
  ASSERT_TRUE(t1.ok());
  EXPECT_EQ(t1->size(), 32u);
  auto t2 = LoadOrCreateToken(dir_, "cluster.token");
  ASSERT_TRUE(t2.ok());
  EXPECT_EQ(*t1, *t2);
  const auto perms = std::filesystem::status(dir_ + "/cluster.token").permissions();
  EXPECT_EQ(perms & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
}

// The state round-trips through cluster.json.
TEST_F(ProcessTest, StateRoundTrip) {
  ClusterState s;
  s.base_url = "http://127.0.0.1:8000";
  s.http_port = 8000;
  s.processes.push_back({"master", "/x/kvc-master", 42, 7, "/l", "/p"});
  ASSERT_TRUE(SaveState(dir_, s).ok());
  auto back = LoadState(dir_);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->base_url, s.base_url);
  ASSERT_EQ(back->processes.size(), 1u);
  EXPECT_EQ(back->processes[0].pid, 42);
  EXPECT_EQ(back->processes[0].start_time, 7u);
  EXPECT_EQ(LoadState(dir_ + "/missing").status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace kvc::local

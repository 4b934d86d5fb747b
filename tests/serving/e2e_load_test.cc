// 500 concurrent streaming requests against a sim-backend kvc-local cluster all
// finish with [DONE] and no error.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "tests/serving/local_cluster.h"
#include "tests/serving/sse_client.h"

namespace kvc {
namespace {

using testing::LocalCluster;

TEST(E2eLoadTest, FiveHundredConcurrentStreams) {
  LocalCluster cluster({"--engine", "sim", "--sim-time-scale", "0.01", "--kv-blocks", "8192"});
  ASSERT_TRUE(cluster.ok()) << cluster.up_output();
  constexpr int kStreams = 500;
  std::atomic<int> ok{0};
  std::vector<std::string> failures(kStreams);
  std::vector<std::thread> threads;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < kStreams; ++i) {
    threads.emplace_back([&, i] {
      auto r = testing::PostSse(cluster.http_port(), "/v1/chat/completions",
                                testing::ChatBody("Say hello number " + std::to_string(i), 8, true),
                                nullptr, std::chrono::milliseconds(60000));
      if (r.status == 200 && !r.events.empty() && r.events.back() == "[DONE]" &&
          !testing::HasErrorEvent(r.events)) {
        ++ok;
      } else {
        failures[i] = std::to_string(r.status) + " " + r.body.substr(0, 300);
      }
    });
  }
  for (auto& t : threads) t.join();
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::string first_failure;
  for (const auto& f : failures) {
    if (!f.empty()) {
      first_failure = f;
      break;
    }
  }
  EXPECT_EQ(ok.load(), kStreams) << "first failure: " << first_failure;
  RecordProperty("seconds", std::to_string(secs));
  std::printf("%d streams in %.2f s\n", kStreams, secs);
}

}  // namespace
}  // namespace kvc

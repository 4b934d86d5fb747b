#include "transfer/internal/topology.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace kvc::transfer::internal {
namespace {
namespace fs = std::filesystem;

void Write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p) << text << "\n";
}

// A fake sysfs with 2 NUMA nodes, 2 RDMA NICs and one GPU gives the expected matrix.
TEST(TopologyTest, DiscoversFromSysfsTree) {
  const fs::path root = fs::temp_directory_path() / ("kvc-topo-" + std::to_string(getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "devices/system/node/node0");
  fs::create_directories(root / "devices/system/node/node1");
  Write(root / "class/infiniband/mlx5_0/device/numa_node", "0");
  Write(root / "class/infiniband/mlx5_1/device/numa_node", "1");
  Write(root / "bus/pci/devices/0000:17:00.0/vendor", "0x10de");
  Write(root / "bus/pci/devices/0000:17:00.0/class", "0x030200");
  Write(root / "bus/pci/devices/0000:17:00.0/numa_node", "1");
  Topology t = DiscoverTopology(root.string());
  fs::remove_all(root);
  ASSERT_EQ(t.matrix.size(), 3u);
  EXPECT_EQ(t.matrix["cpu:0"].preferred, std::vector<std::string>{"mlx5_0"});
  EXPECT_EQ(t.matrix["cpu:0"].secondary, std::vector<std::string>{"mlx5_1"});
  EXPECT_EQ(t.matrix["cuda:0"].preferred, std::vector<std::string>{"mlx5_1"});
  EXPECT_EQ(t.NicsFor("cuda:0"), (std::vector<std::string>{"mlx5_1", "mlx5_0"}));
}

// JSON round trip, and a malformed override is refused naming the location.
TEST(TopologyTest, JsonRoundTripAndErrors) {
  auto t = Topology::FromJson(R"({"cpu:0":{"preferred":["eth0"],"secondary":["eth1"]}})");
  ASSERT_TRUE(t.ok()) << t.status();
  auto back = Topology::FromJson(t->ToJson());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->matrix, t->matrix);
  EXPECT_FALSE(Topology::FromJson("[1]").ok());
  EXPECT_FALSE(Topology::FromJson(R"({"gpu0":{"preferred":[]}})").ok());
  auto bad = Topology::FromJson(R"({"cpu:1":{"preferred":3}})");
  EXPECT_NE(bad.status().message().find("cpu:1"), absl::string_view::npos);
}

// Discovery on the real /sys of this machine never fails and always has cpu:0.
TEST(TopologyTest, RealSysHasCpu0) {
  Topology t = DiscoverTopology();
  EXPECT_TRUE(t.matrix.count("cpu:0"));
}

}  // namespace
}  // namespace kvc::transfer::internal

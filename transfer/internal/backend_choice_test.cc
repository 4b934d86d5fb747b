#include "transfer/internal/backend_choice.h"

#include <gtest/gtest.h>

namespace kvc::transfer::internal {
namespace {

SegmentDescriptor Remote(const std::string& host, const std::string& boot, bool verbs,
                         bool endpoint) {
  SegmentDescriptor d;
  d.name = "r";
  d.host_id = host;
  d.boot_id = boot;
  if (verbs) d.verbs_nics = {"mlx5_0"};
  if (endpoint) d.tcp_endpoints = {"10.0.0.2:4100"};
  return d;
}

using Backends = std::vector<std::string>;

// Per peer: same host → shm first; another host with NICs on both sides → verbs; else tcp.
TEST(BackendChoiceTest, AutoChoosesPerPeer) {
  const LocalCapabilities with_nic{"h1", "boot-a", true};
  const LocalCapabilities without_nic{"h1", "boot-a", false};
  EXPECT_EQ(ChooseBackends(with_nic, Remote("h1", "boot-a", true, true)), (Backends{"shm", "tcp"}));
  EXPECT_EQ(ChooseBackends(with_nic, Remote("h2", "boot-b", true, true)),
            (Backends{"verbs", "tcp"}));
  EXPECT_EQ(ChooseBackends(without_nic, Remote("h2", "boot-b", true, true)), (Backends{"tcp"}));
  EXPECT_EQ(ChooseBackends(with_nic, Remote("h2", "boot-b", false, true)), (Backends{"tcp"}));
  EXPECT_EQ(ChooseBackends(with_nic, Remote("h2", "boot-b", true, false)), (Backends{"tcp"}));
  // Unknown host identities are never "the same host".
  EXPECT_EQ(ChooseBackends({"", "", true}, Remote("", "", true, true)), (Backends{"verbs", "tcp"}));
}

// The host id decides, not the boot id alone: network namespaces (or containers)
// on one kernel share a boot id but are separate hosts when their ids differ.
TEST(BackendChoiceTest, HostIdDecidesSameHostNotBootIdAlone) {
  const LocalCapabilities ns1{"kvc-h1", "boot-a", false};
  EXPECT_EQ(ChooseBackends(ns1, Remote("kvc-h2", "boot-a", false, true)), (Backends{"tcp"}));
  EXPECT_FALSE(SameHost("kvc-h1", "boot-a", Remote("kvc-h2", "boot-a", false, true)));
  EXPECT_TRUE(SameHost("kvc-h1", "boot-a", Remote("kvc-h1", "boot-a", false, true)));
  // A host id copied onto another kernel: cross-memory attach cannot work there.
  EXPECT_FALSE(SameHost("kvc-h1", "boot-a", Remote("kvc-h1", "boot-b", false, true)));
  EXPECT_NE(ChoiceReason(ns1, Remote("kvc-h2", "boot-a", false, true)).find("kvc-h2"),
            std::string::npos);
  EXPECT_NE(ChoiceReason(ns1, Remote("kvc-h1", "boot-b", false, true)).find("another kernel"),
            std::string::npos);
}

}  // namespace
}  // namespace kvc::transfer::internal

#include "kvc/common/ids.h"

#include <gtest/gtest.h>

#include <set>

namespace kvc {
namespace {

// Request ids are unique and well-formed.
TEST(IdsTest, RequestIdsUnique) {
  std::set<std::string> seen;
  for (int i = 0; i < 10000; ++i) {
    std::string id = NewRequestId();
    EXPECT_EQ(id.rfind("req-", 0), 0u);
    EXPECT_EQ(id.size(), 20u);
    EXPECT_TRUE(seen.insert(id).second) << id;
  }
}

// Node ids carry the role and differ between calls.
TEST(IdsTest, NodeIdsCarryRole) {
  std::string a = NewNodeId("prefill");
  std::string b = NewNodeId("prefill");
  EXPECT_EQ(a.rfind("prefill-", 0), 0u);
  EXPECT_NE(a, b);
  EXPECT_FALSE(HostName().empty());
}

}  // namespace
}  // namespace kvc

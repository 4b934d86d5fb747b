#include "store/node/ssd_tier.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <vector>

namespace kvc::store {
namespace {

// A fresh temporary directory, removed afterwards. (Unit tests do not link the
// multi-process test support library: the sanitizer build leaves tests/ out.)
class ScratchDir {
 public:
  ScratchDir() {
    char tmpl[] = "/tmp/kvc-ssd-tier-test-XXXXXX";
    path_ = mkdtemp(tmpl) != nullptr ? tmpl : "/tmp";
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::vector<char> Pattern(size_t n, char seed) {
  std::vector<char> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<char>(seed + i * 7);
  return v;
}

// Values written before closing the database are read back byte-exact after reopening.
TEST(SsdTierTest, ValuesSurviveReopen) {
  ScratchDir dir;
  const auto big = Pattern(256 << 10, 3);  // goes to a blob file
  const auto small = Pattern(100, 9);
  {
    auto db = SsdTier::Open(dir.path() + "/db");
    ASSERT_TRUE(db.ok()) << db.status();
    ASSERT_TRUE((*db)->Put(BlockKey{1, 2}, big.data(), big.size()).ok());
    ASSERT_TRUE((*db)->Put(BlockKey{1, 3}, small.data(), small.size()).ok());
  }
  auto db = SsdTier::Open(dir.path() + "/db");
  ASSERT_TRUE(db.ok()) << db.status();
  std::vector<char> out(big.size());
  auto n = (*db)->Read(BlockKey{1, 2}, out.data(), out.size());
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, big.size());
  EXPECT_EQ(out, big);
  std::vector<std::pair<BlockKey, uint64_t>> seen;
  ASSERT_TRUE((*db)->ForEach([&](const BlockKey& k, uint64_t s) { seen.emplace_back(k, s); }).ok());
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].first, (BlockKey{1, 2}));
  EXPECT_EQ(seen[1].second, 100u);
}

// Missing keys, small buffers and deleted keys give clear errors.
TEST(SsdTierTest, ErrorsAreClear) {
  ScratchDir dir;
  auto db = SsdTier::Open(dir.path() + "/db");
  ASSERT_TRUE(db.ok());
  char buf[16];
  EXPECT_EQ((*db)->Read(BlockKey{9, 9}, buf, sizeof buf).status().code(),
            absl::StatusCode::kNotFound);
  const auto v = Pattern(64, 1);
  ASSERT_TRUE((*db)->Put(BlockKey{1, 1}, v.data(), v.size()).ok());
  EXPECT_EQ((*db)->Read(BlockKey{1, 1}, buf, sizeof buf).status().code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(*(*db)->SizeOf(BlockKey{1, 1}), 64u);
  ASSERT_TRUE((*db)->Delete(BlockKey{1, 1}).ok());
  EXPECT_FALSE((*db)->SizeOf(BlockKey{1, 1}).ok());
  EXPECT_FALSE(SsdTier::Open("/proc/definitely/not/here").ok());
}

}  // namespace
}  // namespace kvc::store

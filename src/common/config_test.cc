#include "kvc/common/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <map>

namespace kvc {
namespace {

struct TestOptions {
  std::string name = "default";
  int32_t port = 8000;
  uint64_t bytes = 1024;
  double ratio = 0.5;
  bool verbose = false;
  std::vector<std::string> peers;
  uint32_t nested_depth = 3;
};

void Bind(OptionSet& set, TestOptions* o) {
  set.Add("name", &o->name, "a name");
  set.Add("port", &o->port, "a port");
  set.Add("bytes", &o->bytes, "a size");
  set.Add("ratio", &o->ratio, "a ratio");
  set.Add("verbose", &o->verbose, "a switch");
  set.Add("peers", &o->peers, "a list");
  set.Add("store.depth", &o->nested_depth, "a nested option");
}

EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> const char* {
    auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

// Runs argv through CLI11 + Resolve with the given env; returns the resolve status.
Status ParseWith(std::vector<std::string> args, std::map<std::string, std::string> env,
                 TestOptions* o) {
  OptionSet set;
  Bind(set, o);
  CLI::App app("test", "test");
  set.AttachTo(app);
  std::vector<char*> argv{const_cast<char*>("test")};
  for (auto& a : args) argv.push_back(a.data());
  app.parse(static_cast<int>(argv.size()), argv.data());
  return set.Resolve(FakeEnv(std::move(env)));
}

class TempYaml {
 public:
  explicit TempYaml(const std::string& text) {
    // pid in the name: ctest runs each case as its own process, possibly in parallel.
    path_ = ::testing::TempDir() + "/kvc_config_test_" + std::to_string(getpid()) + "_" +
            std::to_string(counter_++) + ".yaml";
    FILE* f = std::fopen(path_.c_str(), "w");
    std::fputs(text.c_str(), f);
    std::fclose(f);
  }
  ~TempYaml() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  std::string path_;
};

// Defaults stay when no source names an option.
TEST(ConfigTest, DefaultsSurviveWhenNothingIsGiven) {
  TestOptions o;
  ASSERT_TRUE(ParseWith({}, {}, &o).ok());
  EXPECT_EQ(o.name, "default");
  EXPECT_EQ(o.port, 8000);
  EXPECT_FALSE(o.verbose);
}

// File < env < flag: each later source overrides the earlier one, per field.
TEST(ConfigTest, FlagBeatsEnvBeatsFile) {
  TempYaml yaml("name: from-file\nport: 1111\nbytes: 2222\nstore:\n  depth: 7\n");
  TestOptions o;
  ASSERT_TRUE(ParseWith({"--config", yaml.path(), "--port", "3333"},
                        {{"KVC_PORT", "4444"}, {"KVC_BYTES", "5555"}}, &o)
                  .ok());
  EXPECT_EQ(o.name, "from-file");  // only the file set it
  EXPECT_EQ(o.bytes, 5555u);       // env beat file
  EXPECT_EQ(o.port, 3333);         // flag beat env and file
  EXPECT_EQ(o.nested_depth, 7u);   // nested YAML map → dotted key
}

// KVC_CONFIG names the file when --config is absent.
TEST(ConfigTest, ConfigFileFromEnv) {
  TempYaml yaml("ratio: 0.25\npeers: [a:1, b:2]\n");
  TestOptions o;
  ASSERT_TRUE(ParseWith({}, {{"KVC_CONFIG", yaml.path()}}, &o).ok());
  EXPECT_DOUBLE_EQ(o.ratio, 0.25);
  EXPECT_EQ(o.peers, (std::vector<std::string>{"a:1", "b:2"}));
}

// Nested keys map to KVC_STORE_DEPTH and --store-depth.
TEST(ConfigTest, NestedKeySpellings) {
  EXPECT_EQ(EnvNameForKey("store.dram_bytes"), "KVC_STORE_DRAM_BYTES");
  EXPECT_EQ(FlagNameForKey("store.dram_bytes"), "--store-dram-bytes");
  TestOptions o;
  ASSERT_TRUE(ParseWith({"--store-depth", "9"}, {{"KVC_STORE_DEPTH", "8"}}, &o).ok());
  EXPECT_EQ(o.nested_depth, 9u);
}

// Boolean flags work bare and with an explicit value.
TEST(ConfigTest, BooleanFlags) {
  TestOptions a;
  ASSERT_TRUE(ParseWith({"--verbose"}, {}, &a).ok());
  EXPECT_TRUE(a.verbose);
  TestOptions b;
  ASSERT_TRUE(ParseWith({"--verbose=false"}, {{"KVC_VERBOSE", "true"}}, &b).ok());
  EXPECT_FALSE(b.verbose);
}

// A bad env value names the field, the value and the variable.
TEST(ConfigTest, BadEnvValueNamesFieldValueAndSource) {
  TestOptions o;
  Status s = ParseWith({}, {{"KVC_PORT", "abc"}}, &o);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("port"), std::string::npos);
  EXPECT_NE(s.message().find("'abc'"), std::string::npos);
  EXPECT_NE(s.message().find("KVC_PORT"), std::string::npos);
}

// A bad flag value names the flag; negative into unsigned is rejected, not wrapped.
TEST(ConfigTest, NegativeIntoUnsignedIsRejected) {
  TestOptions o;
  Status s = ParseWith({"--bytes=-5"}, {}, &o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("bytes"), std::string::npos);
  EXPECT_NE(s.message().find("--bytes"), std::string::npos);
  EXPECT_EQ(o.bytes, 1024u);
}

// Out-of-range values do not silently truncate.
TEST(ConfigTest, OutOfRangeIsRejected) {
  TestOptions o;
  Status s = ParseWith({"--port", "99999999999"}, {}, &o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("out of range"), std::string::npos);
}

// Unknown keys in a file are errors that name the key and the file.
TEST(ConfigTest, UnknownYamlKeyIsAnError) {
  TempYaml yaml("nmae: typo\n");
  TestOptions o;
  Status s = ParseWith({"--config", yaml.path()}, {}, &o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("nmae"), std::string::npos);
  EXPECT_NE(s.message().find(yaml.path()), std::string::npos);
}

// Malformed YAML and a missing file are clear errors.
TEST(ConfigTest, MalformedYamlAndMissingFile) {
  TempYaml yaml("port: [1, 2\n");
  TestOptions o;
  EXPECT_FALSE(ParseWith({"--config", yaml.path()}, {}, &o).ok());
  Status missing = ParseWith({"--config", "/nonexistent/kvc.yaml"}, {}, &o);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.code(), absl::StatusCode::kNotFound);
}

// A bad value in the file names the field and the file.
TEST(ConfigTest, BadYamlValueNamesFieldAndFile) {
  TempYaml yaml("ratio: fast\n");
  TestOptions o;
  Status s = ParseWith({"--config", yaml.path()}, {}, &o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("ratio: 'fast'"), std::string::npos);
  EXPECT_NE(s.message().find("file"), std::string::npos);
}

// A list given to a scalar option is refused.
TEST(ConfigTest, ListForScalarIsRejected) {
  TempYaml yaml("port: [1, 2]\n");
  TestOptions o;
  Status s = ParseWith({"--config", yaml.path()}, {}, &o);
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("port"), std::string::npos);
}

// Describe() reports current values, for logs.
TEST(ConfigTest, DescribeShowsValues) {
  OptionSet set;
  TestOptions o;
  Bind(set, &o);
  auto lines = set.Describe();
  EXPECT_NE(std::find(lines.begin(), lines.end(), "port=8000"), lines.end());
}

}  // namespace
}  // namespace kvc

// Configuration: every role fills one plain Options struct (defaults in the
// declaration) from, in increasing precedence,
//   1. a YAML file (--config FILE, or KVC_CONFIG),
//   2. environment variables KVC_<KEY> (key upper-cased, '.' → '_'),
//   3. command-line flags --<key> ('_' and '.' → '-').
// A key like "store.dram_bytes" is the nested YAML map `store: {dram_bytes: ...}`,
// the env var KVC_STORE_DRAM_BYTES and the flag --store-dram-bytes.
//
// Errors name the field, the bad value and where it came from, e.g.
//   "http_port: 'abc' from env KVC_HTTP_PORT is not an integer".
// Not thread-safe; use during start-up.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "kvc/common/status.h"

namespace CLI {
class App;
}

namespace kvc {

// Reads an environment variable; returns nullptr when unset. Injected for tests.
using EnvLookup = std::function<const char*(const char*)>;
EnvLookup ProcessEnv();

class OptionSet {
 public:
  OptionSet();
  ~OptionSet();
  OptionSet(const OptionSet&) = delete;
  OptionSet& operator=(const OptionSet&) = delete;

  // Binds `key` to `*field`; the field's current value is the default.
  // REQUIRES: `field` outlives this set; key is unique, [a-z0-9_.]+.
  void Add(const std::string& key, bool* field, const std::string& help);
  void Add(const std::string& key, int32_t* field, const std::string& help);
  void Add(const std::string& key, int64_t* field, const std::string& help);
  void Add(const std::string& key, uint32_t* field, const std::string& help);
  void Add(const std::string& key, uint64_t* field, const std::string& help);
  void Add(const std::string& key, double* field, const std::string& help);
  void Add(const std::string& key, std::string* field, const std::string& help);
  void Add(const std::string& key, std::vector<std::string>* field, const std::string& help);

  // Declares a flag for every option on `app`, plus --config. Values given on the
  // command line are held until Resolve(), so they win over file and env.
  void AttachTo(CLI::App& app);

  // After `app` parsed argv: applies the file, then env, then the held flags.
  [[nodiscard]] Status Resolve(const EnvLookup& env = ProcessEnv());

  // Applies a YAML document (for tests and for Resolve). Unknown keys are errors.
  [[nodiscard]] Status ApplyYaml(const std::string& yaml_text, const std::string& origin);
  // Applies KVC_* variables that name a known option; others are ignored.
  [[nodiscard]] Status ApplyEnv(const EnvLookup& env);

  // "key=value" for every option, in declaration order, for logs and --help.
  std::vector<std::string> Describe() const;

  struct Field;

 private:
  Field& NewField(const std::string& key, const std::string& help);
  std::vector<std::unique_ptr<Field>> fields_;
  std::string config_path_;
};

// For server roles: builds a CLI11 app named `program` with `description`, binds
// `options`, parses argv and resolves. Returns true when the process should go
// on; false with `*exit_code` set when it should exit now (--help: 0, error: 2,
// with the message printed to stderr).
bool ParseCommandLine(int argc, char** argv, const std::string& program,
                      const std::string& description, OptionSet& options, int* exit_code);

// Environment-variable and flag spellings of a key (exposed for docs and tests).
std::string EnvNameForKey(const std::string& key);
std::string FlagNameForKey(const std::string& key);

}  // namespace kvc

#include "bench/placeholder_tool.h"

#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "kvc/common/config.h"

namespace kvc {

int RunPlaceholderTool(int argc, char** argv, const char* name, const char* description) {
  std::string log_level = "info";
  OptionSet set;
  set.Add("log_level", &log_level, "trace|debug|info|warn|error|critical|off");
  CLI::App app(description, name);
  set.AttachTo(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (Status s = set.Resolve(); !s.ok()) {
    std::fprintf(stderr, "%s: configuration error: %s\n", name, std::string(s.message()).c_str());
    return 2;
  }
  std::fprintf(stderr, "%s: no subcommand is built yet (see --help)\n", name);
  return 2;
}

}  // namespace kvc

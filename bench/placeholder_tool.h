// Entry point shared by kvc-bench and kvc-sim until their subcommands are built:
// parses --help/--config like every kvc binary and says plainly what is missing.
#pragma once

namespace kvc {

// Returns the process exit code: 0 for --help, 2 otherwise (nothing to run yet).
int RunPlaceholderTool(int argc, char** argv, const char* name, const char* description);

}  // namespace kvc

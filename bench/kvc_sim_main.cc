// kvc-sim: discrete-event cluster simulator (not built yet).
#include "bench/placeholder_tool.h"

int main(int argc, char** argv) {
  return kvc::RunPlaceholderTool(
      argc, argv, "kvc-sim",
      "kvc-sim: discrete-event cluster simulator running the real scheduling policy on "
      "virtual time.\n"
      "Status: not built yet. The subcommands run, cache-curve and sweep arrive with the "
      "scheduling issue.");
}

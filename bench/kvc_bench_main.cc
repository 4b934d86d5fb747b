// kvc-bench: trace replay and transfer/store micro-benchmarks (not built yet).
#include "bench/placeholder_tool.h"

int main(int argc, char** argv) {
  return kvc::RunPlaceholderTool(
      argc, argv, "kvc-bench",
      "kvc-bench: trace replay against a live cluster and transfer/store micro-benchmarks.\n"
      "Status: not built yet. The subcommands transfer, store and replay arrive with the "
      "transfer-engine, store and scheduling issues.");
}

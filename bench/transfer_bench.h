// `kvc-bench transfer`: the transfer engine micro-benchmark.
//   kvc-bench transfer --loopback --backend {tcp|ucx|shm|auto} --op {read|write}
//       --block-size BYTES --batch N --threads T --duration SECONDS [--verify]
// --loopback starts its own target process (this binary with --serve) on
// 127.0.0.1 and stops it afterwards; --target NAME uses a running engine instead.
// Prints a human table, then one JSON object as the last line (docs/transfer.md).
#pragma once

#include "bench/bench_command.h"

namespace kvc::bench {

BenchCommand RegisterTransferCommand(CLI::App& app);

}  // namespace kvc::bench

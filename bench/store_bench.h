// `kvc-bench store`: the KVCache store micro-benchmark.
//   kvc-bench store --local --value-size BYTES --clients N --duration SECONDS [--ssd]
// --local starts a kvc-master and one kvc-store node (with an SSD tier on RocksDB
// under --ssd) on 127.0.0.1 from the binaries next to kvc-bench, runs N client
// threads that put values for the first half of the duration and get them back
// (verifying every byte) for the second half, then stops everything. Prints a
// table, then one JSON object as the last line (docs/store.md).
#pragma once

#include "bench/bench_command.h"

namespace kvc::bench {

BenchCommand RegisterStoreCommand(CLI::App& app);

}  // namespace kvc::bench

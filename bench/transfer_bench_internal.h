// Pieces of `kvc-bench transfer` shared by its two files. Not a public API.
#pragma once

#include <cstdint>
#include <string>

#include "kvc/common/status.h"
#include "kvc/transfer/transfer_engine.h"

namespace kvc::bench {

struct TransferBenchConfig {
  bool loopback = false;
  bool serve = false;  // internal: run as the loopback target
  std::string target;  // segment name when not --loopback
  std::string backend = "auto";
  std::string op = "write";
  uint64_t block_size = 1 << 20;
  uint32_t batch = 16;
  uint32_t threads = 1;
  double duration = 5.0;
  bool verify = false;
  bool memcpy_baseline = false;                // measure one thread's memcpy instead (reference)
  uint64_t region_bytes = 0;                   // --serve: bytes to register (0 = computed)
  std::string port_file;                       // --serve: where to write the bound port
  std::string listen_address = "127.0.0.1:0";  // --serve: the target's TCP address
  bool heap_region = false;  // target region from the heap, not AllocateSharedMemory
  // Remote bytes the threads cycle through (0 = each thread reuses its own
  // batch*block bytes, which then stay in the CPU caches on the intra-host path).
  uint64_t working_set = 0;
  transfer::TransferEngineOptions engine;
};

// Bytes of the remote region each thread cycles through: its batch*block area,
// or its share of --working-set rounded down to whole batches (never less).
uint64_t ThreadSpan(const TransferBenchConfig& c);

struct TransferBenchResult {
  std::string backend;
  double seconds = 0;
  uint64_t bytes = 0;
  uint64_t ops = 0;
  double p50_us = 0;
  double p99_us = 0;
  uint64_t errors = 0;
  bool verified = false;
  std::string first_error;
};

// The byte a loopback target holds at `offset` of its region (read verification).
inline char PatternByte(uint64_t offset) {
  return static_cast<char>((offset * 131) ^ (offset >> 9));
}

// Runs the timed loop (and the verification pass) against an open segment.
[[nodiscard]] StatusOr<TransferBenchResult> RunTransferLoad(
    const TransferBenchConfig& config, transfer::TransferEngine& engine,
    transfer::SegmentHandle target, const transfer::RegionDescriptor& remote);

// --memcpy: one thread copying block-size chunks across a batch*block working set.
TransferBenchResult RunMemcpyBaseline(const TransferBenchConfig& config);

// --serve: a target engine with a pattern-filled region until SIGTERM/SIGINT.
int ServeTransferTarget(const TransferBenchConfig& config);

}  // namespace kvc::bench

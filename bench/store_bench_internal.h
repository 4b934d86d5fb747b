// Internals of `kvc-bench store` shared by its files.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kvc/common/status.h"
#include "kvc/transfer/transfer_engine.h"

namespace kvc::bench {

struct StoreBenchConfig {
  bool local = false;
  // A running kvc-master (and its nodes) to use instead of --local, e.g. on another host.
  std::string master_address;
  std::string backend = "auto";  // the clients' transfer engine backend (auto, tcp, shm, ...)
  uint64_t value_size = 1 << 20;
  uint32_t clients = 1;
  // Values per client call: 1 = Put / Get, more = BatchPut / BatchGet of that many
  // (one PutStart and one PutEnd round trip per batch, as a prefill node publishes).
  uint32_t batch = 1;
  double duration = 5.0;  // seconds: half put, half get
  bool ssd = false;
  uint64_t dram_bytes = 0;  // 0 = sized from the run (4 GiB cap; 1/4 of the data with --ssd)
  uint32_t replicas = 1;
  bool lease_cache = true;    // client reuses replica lists while their lease lasts
  bool shared_memory = true;  // node DRAM from AllocateSharedMemory (memcpy for same-host peers)
  bool memcpy_reference = false;  // also measure memcpy over the same working set (the ceiling)
  // Also read the stored values straight through the transfer engine (no master,
  // no client library), same threads, values and order: the bar's reference.
  bool transfer_reference = false;
  uint64_t keys_per_client = 0;  // 0 = fill the memory budget (2 GiB of values, 8 GiB with --ssd)
};

struct StoreBenchResult {
  uint64_t puts = 0, gets = 0, errors = 0, put_retries = 0;
  double put_seconds = 0, get_seconds = 0;
  double put_p50_us = 0, put_p99_us = 0, get_p50_us = 0, get_p99_us = 0;
  bool verified = false;
  std::string first_error;
  uint64_t demotions = 0;
  uint64_t master_gets = 0;      // Get lookups the master served (timed, verify pass and misses)
  uint64_t values_verified = 0;  // values compared byte by byte after the timed run
  double memcpy_bytes_per_second = 0;               // --memcpy-reference, else 0
  double transfer_bytes_per_second = 0;             // --transfer-reference, else 0
  std::string transfer_backend;                     // the backend the reference ran on
  double transfer_p50_us = 0, transfer_p99_us = 0;  // per read of the reference
};

// The local cluster: kvc-master and kvc-store children, stopped on destruction.
class LocalStoreCluster {
 public:
  ~LocalStoreCluster();
  Status Start(const StoreBenchConfig& config, uint64_t dram_bytes);
  const std::string& master_address() const { return master_address_; }

 private:
  StatusOr<int> Spawn(const std::vector<std::string>& args, const std::string& port_file);
  std::string dir_;
  std::vector<int> pids_;
  std::string master_address_;
};

// Bytes per second of `config.clients` threads memcpy-ing value_size blocks
// round-robin out of a working set of keys_per_client values each (0 on failure).
double MemcpyReference(const StoreBenchConfig& config, uint64_t keys_per_client, double seconds);

// Bytes per second of one thread per client reading that client's stored values
// (keys {client+1, 0..stored[client]-1}, in turn) with one-entry batches straight
// through `engine`, as `kvc-bench transfer --batch 1` does. `buffers[t]` is a
// registered value_size buffer per client. Sets *backend and the per-read
// latency percentiles. 0 on failure.
double TransferReference(const StoreBenchConfig& config, const std::string& master_address,
                         transfer::TransferEngine& engine, const std::vector<char*>& buffers,
                         const std::vector<uint64_t>& stored, double seconds, std::string* backend,
                         double* p50_us, double* p99_us);

// Runs the clients against master_address.
StatusOr<StoreBenchResult> RunStoreClients(const StoreBenchConfig& config,
                                           const std::string& master_address,
                                           uint64_t keys_per_client);

}  // namespace kvc::bench

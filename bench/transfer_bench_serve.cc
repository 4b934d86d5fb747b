// `kvc-bench transfer --serve`: the loopback target. Registers one
// pattern-filled region (AllocateSharedMemory, so same-host peers can map it), writes its port,
// serves until SIGTERM/SIGINT.
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <memory>

#include "bench/transfer_bench_internal.h"

namespace kvc::bench {

int ServeTransferTarget(const TransferBenchConfig& config) {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // before any thread starts

  if (config.region_bytes == 0 || config.port_file.empty()) {
    std::fprintf(stderr, "kvc-bench transfer --serve needs --region-bytes and --port-file\n");
    return 2;
  }
  auto directory = transfer::MakeInProcessSegmentDirectory();
  transfer::TransferEngineOptions options = config.engine;
  options.listen_address = config.listen_address;
  options.backend = config.backend;  // "ucx" makes the target publish a UCX worker and rkeys
  auto engine = transfer::CreateTransferEngine(options, directory.get());
  // Shared memory: same-host peers map it and copy with memcpy (the shm backend).
  // --heap-region: plain heap memory (cross-memory attach), for comparison.
  std::unique_ptr<char[]> heap;
  StatusOr<void*> memory = absl::UnknownError("no engine");
  if (!engine.ok()) {
    memory = engine.status();
  } else if (config.heap_region) {
    heap = std::make_unique<char[]>(config.region_bytes);
    memory = static_cast<void*>(heap.get());
  } else {
    memory = (*engine)->AllocateSharedMemory(config.region_bytes);
  }
  char* region = memory.ok() ? static_cast<char*>(*memory) : nullptr;
  if (region != nullptr) {
    for (uint64_t i = 0; i < config.region_bytes; ++i) region[i] = PatternByte(i);
  }
  Status s = memory.ok() ? (*engine)->RegisterMemory(region, config.region_bytes, "cpu:0", true)
                         : memory.status();
  if (!s.ok()) {
    std::fprintf(stderr, "kvc-bench transfer --serve: %s\n", s.ToString().c_str());
    return 1;
  }
  const std::string name = (*engine)->LocalSegment().name;
  {
    std::ofstream out(config.port_file + ".tmp");
    out << name.substr(name.rfind(':') + 1) << "\n";
  }
  std::rename((config.port_file + ".tmp").c_str(), config.port_file.c_str());
  int signal = 0;
  sigwait(&signals, &signal);
  engine->reset();  // joins every connection thread (and frees the shared region) first
  return 0;
}

}  // namespace kvc::bench

// `kvc-bench store --memcpy-reference`: the like-for-like ceiling of the get
// phase. The engine's own reference (`kvc-bench transfer --batch 1`) reads one
// cache-hot block per thread; the store's get phase reads every stored value in
// turn, from a working set far larger than the caches. This measures plain
// memcpy over a working set of the same size, value size and thread count, in
// 4 KiB pages like the node's shared-memory DRAM: no store can beat it.
#include <sys/mman.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "bench/store_bench_internal.h"

namespace kvc::bench {

double MemcpyReference(const StoreBenchConfig& c, uint64_t keys_per_client, double seconds) {
  const uint64_t bytes = keys_per_client * c.clients * c.value_size;
  void* mem = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return 0;
  char* base = static_cast<char*>(mem);
  std::memset(base, 1, bytes);  // resident, like the node's touched DRAM
  std::atomic<uint64_t> copied{0};
  const auto end = std::chrono::steady_clock::now() +
                   std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                       std::chrono::duration<double>(seconds));
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (uint32_t t = 0; t < c.clients; ++t) {
    threads.emplace_back([&, t] {
      std::vector<char> dst(c.value_size + 4096);
      char* out = dst.data() + (4096 - reinterpret_cast<uintptr_t>(dst.data()) % 4096);
      uint64_t n = 0;
      for (; std::chrono::steady_clock::now() < end; ++n) {
        const uint64_t key = t * keys_per_client + n % keys_per_client;
        std::memcpy(out, base + key * c.value_size, c.value_size);
        asm volatile("" : : "r"(out) : "memory");  // the copy is not dead code
      }
      copied += n * c.value_size;
    });
  }
  for (auto& th : threads) th.join();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  munmap(mem, bytes);
  return elapsed > 0 ? static_cast<double>(copied.load()) / elapsed : 0;
}

}  // namespace kvc::bench

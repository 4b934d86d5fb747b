// The measurement loop of `kvc-bench transfer`: T threads, each submitting
// batches of `batch` blocks to its own slice of the remote region until the
// duration is up; latency is measured per batch (submit → all entries done).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "bench/transfer_bench_internal.h"

namespace kvc::bench {
namespace {

using transfer::TransferOp;
using transfer::TransferRequest;
using SteadyClock = std::chrono::steady_clock;

struct ThreadArea {
  char* local = nullptr;       // batch * block bytes
  char* check = nullptr;       // batch * block bytes, for read-back verification
  uint64_t remote = 0;         // remote address of this thread's area
  uint64_t remote_offset = 0;  // offset of that area inside the remote region
  uint64_t span = 0;           // bytes of the remote region this thread cycles through
};

std::vector<TransferRequest> MakeRequests(const TransferBenchConfig& c, TransferOp op, char* local,
                                          transfer::SegmentHandle target, uint64_t remote) {
  std::vector<TransferRequest> requests;
  for (uint32_t i = 0; i < c.batch; ++i) {
    requests.push_back(
        {op, local + i * c.block_size, target, remote + i * c.block_size, c.block_size});
  }
  return requests;
}

// One batch: allocate, submit, wait, free. Returns the failed-entry count.
uint64_t RunBatch(transfer::TransferEngine& engine, const std::vector<TransferRequest>& requests,
                  std::string* first_error) {
  auto batch = engine.AllocateBatch(requests.size());
  Status s = batch.ok() ? engine.Submit(*batch, requests) : batch.status();
  if (s.ok()) s = engine.Wait(*batch, std::chrono::seconds(60));
  uint64_t failed = 0;
  if (!s.ok()) {
    if (first_error->empty()) *first_error = s.ToString();
    auto all = batch.ok() ? engine.GetAllStatus(*batch) : batch.status();
    failed = requests.size();
    if (all.ok() && all->size() == requests.size()) {
      failed = std::count_if(all->begin(), all->end(), [](const auto& st) {
        return st.state != transfer::TransferState::kCompleted;
      });
    }
  }
  if (batch.ok()) (void)engine.FreeBatch(*batch);
  return failed;
}

bool VerifyArea(const TransferBenchConfig& c, transfer::TransferEngine& engine,
                transfer::SegmentHandle target, const ThreadArea& a, std::string* error) {
  const uint64_t bytes = uint64_t{c.batch} * c.block_size;
  if (c.op == "read") {
    if (RunBatch(engine, MakeRequests(c, TransferOp::kRead, a.check, target, a.remote), error)) {
      return false;
    }
    for (uint64_t i = 0; i < bytes; ++i) {
      if (a.check[i] != PatternByte(a.remote_offset + i)) return false;
    }
    return true;
  }
  std::mt19937_64 rng(a.remote);
  for (uint64_t i = 0; i < bytes; ++i) a.local[i] = static_cast<char>(rng());
  if (RunBatch(engine, MakeRequests(c, TransferOp::kWrite, a.local, target, a.remote), error) ||
      RunBatch(engine, MakeRequests(c, TransferOp::kRead, a.check, target, a.remote), error)) {
    return false;
  }
  return std::memcmp(a.local, a.check, bytes) == 0;
}

double Percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  const size_t k = std::min(v.size() - 1, static_cast<size_t>(q * (v.size() - 1) + 0.5));
  std::nth_element(v.begin(), v.begin() + k, v.end());
  return v[k];
}

}  // namespace

uint64_t ThreadSpan(const TransferBenchConfig& c) {
  const uint64_t per_batch = uint64_t{c.batch} * c.block_size;
  if (c.threads == 0 || per_batch == 0) return per_batch;
  const uint64_t share = c.working_set / c.threads / per_batch * per_batch;
  return std::max(per_batch, share);
}

StatusOr<TransferBenchResult> RunTransferLoad(const TransferBenchConfig& c,
                                              transfer::TransferEngine& engine,
                                              transfer::SegmentHandle target,
                                              const transfer::RegionDescriptor& remote) {
  const uint64_t per_thread = uint64_t{c.batch} * c.block_size;
  const uint64_t span = ThreadSpan(c);
  if (span * c.threads > remote.length) {
    return absl::InvalidArgumentError(absl::StrCat("the threads' working set (", span * c.threads,
                                                   " bytes) exceeds the target region (",
                                                   remote.length, ")"));
  }
  std::vector<char> memory(2 * per_thread * c.threads);
  KVC_RETURN_IF_ERROR(engine.RegisterMemory(memory.data(), memory.size(), "cpu:0", false));
  std::vector<ThreadArea> areas(c.threads);
  for (uint32_t t = 0; t < c.threads; ++t) {
    areas[t] = {memory.data() + 2 * t * per_thread, memory.data() + (2 * t + 1) * per_thread,
                remote.address + t * span, t * span, span};
  }
  const TransferOp op = c.op == "read" ? TransferOp::kRead : TransferOp::kWrite;
  std::atomic<uint64_t> ops{0}, errors{0};
  std::mutex mu;
  std::vector<double> latencies;
  std::string first_error;
  const auto start = SteadyClock::now();
  const auto end = start + std::chrono::duration_cast<SteadyClock::duration>(
                               std::chrono::duration<double>(c.duration));
  std::vector<std::thread> threads;
  for (uint32_t t = 0; t < c.threads; ++t) {
    threads.emplace_back([&, t] {
      auto requests = MakeRequests(c, op, areas[t].local, target, areas[t].remote);
      std::vector<double> mine;
      std::string error;
      uint64_t position = 0;  // offset of the next batch inside the thread's span
      while (SteadyClock::now() < end) {
        if (areas[t].span > per_thread) {
          requests = MakeRequests(c, op, areas[t].local, target, areas[t].remote + position);
          position = (position + per_thread) % areas[t].span;
        }
        const auto t0 = SteadyClock::now();
        const uint64_t failed = RunBatch(engine, requests, &error);
        mine.push_back(std::chrono::duration<double, std::micro>(SteadyClock::now() - t0).count());
        ops += c.batch - failed;
        errors += failed;
      }
      std::lock_guard lock(mu);
      latencies.insert(latencies.end(), mine.begin(), mine.end());
      if (first_error.empty()) first_error = error;
    });
  }
  for (auto& t : threads) t.join();
  TransferBenchResult r;
  r.seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  r.ops = ops;
  r.bytes = r.ops * c.block_size;
  r.errors = errors;
  r.p50_us = Percentile(latencies, 0.50);
  r.p99_us = Percentile(latencies, 0.99);
  if (c.verify) {
    r.verified = true;
    for (const ThreadArea& a : areas)
      r.verified = r.verified && VerifyArea(c, engine, target, a, &first_error);
  }
  r.first_error = first_error;
  (void)engine.UnregisterMemory(memory.data());
  return r;
}

TransferBenchResult RunMemcpyBaseline(const TransferBenchConfig& c) {
  const uint64_t bytes = uint64_t{c.batch} * c.block_size;
  const uint64_t span = std::max(bytes, c.working_set / bytes * bytes);  // one thread: all of it
  std::vector<char> src(span, 1), dst(bytes, 0);  // touched: no page faults in the loop
  uint64_t position = 0;
  std::vector<double> latencies;
  TransferBenchResult r;
  r.backend = "memcpy";
  const auto start = SteadyClock::now();
  const auto end = start + std::chrono::duration_cast<SteadyClock::duration>(
                               std::chrono::duration<double>(c.duration));
  while (SteadyClock::now() < end) {
    const auto t0 = SteadyClock::now();
    for (uint32_t i = 0; i < c.batch; ++i) {
      std::memcpy(dst.data() + i * c.block_size, src.data() + position + i * c.block_size,
                  c.block_size);
    }
    position = (position + bytes) % span;
    latencies.push_back(std::chrono::duration<double, std::micro>(SteadyClock::now() - t0).count());
    r.ops += c.batch;
  }
  r.seconds = std::chrono::duration<double>(SteadyClock::now() - start).count();
  r.bytes = r.ops * c.block_size;
  r.p50_us = Percentile(latencies, 0.50);
  r.p99_us = Percentile(latencies, 0.99);
  r.verified = c.verify && std::memcmp(src.data(), dst.data(), bytes) == 0;  // reads dst
  return r;
}

}  // namespace kvc::bench

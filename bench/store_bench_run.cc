// `kvc-bench store`: the client threads (put phase, then get phase with verification).
#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <random>
#include <thread>

#include "absl/strings/str_cat.h"
#include "bench/store_bench_internal.h"
#include "kvc/common/reason.h"
#include "kvc/rpc/client.h"
#include "kvc/rpc/grpc_status.h"
#include "kvc/store/store_client.h"
#include "kvc/transfer/transfer_engine.h"
#include "kvc/v1/store_master.grpc.pb.h"

namespace kvc::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Shared {
  std::mutex mu;
  std::vector<double> put_us, get_us;
  uint64_t puts = 0, gets = 0, errors = 0, retries = 0, mismatches = 0, verified = 0;
  std::string first_error;
  Clock::time_point put_end{}, get_end{};

  void Error(const Status& s) {
    std::lock_guard lock(mu);
    ++errors;
    if (first_error.empty()) first_error = s.ToString();
  }
};

// The value of key `i` of a client: its template with the key id in the first and
// last 8 bytes. `value` already holds the template (copied once before the timed
// phase): only the stamps change, so the timed put phase pays no extra copy.
void Stamp(char* value, const std::vector<char>& tmpl, uint64_t i) {
  const size_t n = std::min<size_t>(8, tmpl.size());
  std::memcpy(value, &i, n);
  std::memcpy(value + tmpl.size() - n, &i, n);
}

// The key stamps at both ends only (cheap: catches a wrong or stale value during the timed run).
bool StampsMatch(const char* got, const std::vector<char>& tmpl, uint64_t i) {
  const size_t n = std::min<size_t>(8, tmpl.size());
  return std::memcmp(got, &i, n) == 0 && std::memcmp(got + tmpl.size() - n, &i, n) == 0;
}

// Every byte (the verification pass after the timed run).
bool Matches(const char* got, const std::vector<char>& tmpl, uint64_t i) {
  const size_t n = std::min<size_t>(8, tmpl.size());
  if (!StampsMatch(got, tmpl, i)) return false;
  return tmpl.size() <= 2 * n || std::memcmp(got + n, tmpl.data() + n, tmpl.size() - 2 * n) == 0;
}

double Percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

struct ClientThread {
  const StoreBenchConfig& c;
  store::StoreClient& client;
  char* put_buf;  // c.batch values (each holding the template)
  char* get_buf;  // c.batch values
  uint32_t id;
  uint64_t keys;
  Shared& shared;

  // One Put (--batch 1) or BatchPut of up to c.batch values per call; latencies are per call.
  uint64_t PutPhase(Clock::time_point deadline, const std::vector<char>& tmpl) {
    std::vector<double> lat;
    uint64_t done = 0, retries = 0;
    std::vector<store::PutItem> items;
    while (done < keys && Clock::now() < deadline) {
      const uint64_t n = std::min<uint64_t>(c.batch, keys - done);
      items.clear();
      for (uint64_t k = 0; k < n; ++k) {
        char* value = put_buf + k * c.value_size;
        Stamp(value, tmpl, done + k);
        items.push_back(store::PutItem{BlockKey{id + 1, done + k}, value, c.value_size});
      }
      const auto t0 = Clock::now();
      std::vector<Status> st;
      if (n == 1) {
        st.push_back(client.Put(items[0].key, items[0].data, items[0].size));
      } else {
        st = client.BatchPut(items);
      }
      const double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
      // The longest prefix that did not run out of space counts; the rest is put
      // again (demotion to SSD frees DRAM shortly).
      uint64_t settled = 0;
      for (; settled < n && ReasonCodeOf(st[settled]) != Reason::kNoSpace; ++settled) {
        if (!st[settled].ok()) shared.Error(st[settled]);
      }
      if (settled < n) {
        ++retries;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
      if (settled == n) lat.push_back(us);
      for (uint64_t k = settled + 1; k < n; ++k) {  // placed after a refused one: undo
        if (st[k].ok()) (void)client.Remove(items[k].key);
      }
      done += settled;
    }
    std::lock_guard lock(shared.mu);
    shared.puts += done;
    shared.retries += retries;
    shared.put_us.insert(shared.put_us.end(), lat.begin(), lat.end());
    shared.put_end = std::max(shared.put_end, Clock::now());
    return done;
  }

  // One Get (--batch 1) or BatchGet of c.batch values per call, round-robin over
  // the stored keys; latencies are per call.
  void GetPhase(Clock::time_point deadline, const std::vector<char>& tmpl, uint64_t stored) {
    std::vector<double> lat;
    uint64_t mismatches = 0, gets = 0;
    const uint64_t n = std::min<uint64_t>(c.batch, stored);
    std::vector<store::GetItem> items(n);
    for (uint64_t next = 0; n > 0 && Clock::now() < deadline;) {
      for (uint64_t k = 0; k < n; ++k, ++next) {
        items[k] = store::GetItem{BlockKey{id + 1, next % stored}, get_buf + k * c.value_size,
                                  c.value_size};
      }
      const auto t0 = Clock::now();
      std::vector<StatusOr<uint64_t>> got;
      if (n == 1) {
        got.push_back(client.Get(items[0].key, items[0].buffer, items[0].capacity));
      } else {
        got = client.BatchGet(items);
      }
      lat.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
      for (uint64_t k = 0; k < n; ++k) {
        if (!got[k].ok()) {
          shared.Error(got[k].status());
          continue;
        }
        ++gets;
        char* buf = static_cast<char*>(items[k].buffer);
        if (*got[k] != c.value_size || !StampsMatch(buf, tmpl, items[k].key.lo)) ++mismatches;
        std::memset(buf, 0, 16);  // a stale buffer must not pass the next check
        std::memset(buf + c.value_size - std::min<uint64_t>(16, c.value_size), 0,
                    std::min<uint64_t>(16, c.value_size));
      }
    }
    std::lock_guard lock(shared.mu);
    shared.gets += gets;
    shared.mismatches += mismatches;
    shared.get_us.insert(shared.get_us.end(), lat.begin(), lat.end());
    shared.get_end = std::max(shared.get_end, Clock::now());
  }

  // Untimed: reads every stored key once more and compares every byte.
  void VerifyPass(const std::vector<char>& tmpl, uint64_t stored) {
    uint64_t mismatches = 0;
    for (uint64_t i = 0; i < stored; ++i) {
      std::memset(get_buf, 0, c.value_size);
      auto got = client.Get(BlockKey{id + 1, i}, get_buf, c.value_size);
      if (!got.ok()) {
        shared.Error(got.status());
        continue;
      }
      if (*got != c.value_size || !Matches(get_buf, tmpl, i)) ++mismatches;
    }
    std::lock_guard lock(shared.mu);
    shared.mismatches += mismatches;
    shared.verified += stored;
  }
};

// The master's counters after the run (zeros when it does not answer).
v1::GetStatsResponse MasterStats(const std::string& master) {
  auto stub = v1::StoreMaster::NewStub(MakeChannel(master));
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
  v1::GetStatsResponse stats;
  if (!stub->GetStats(&ctx, v1::GetStatsRequest(), &stats).ok()) stats.Clear();
  return stats;
}

}  // namespace

StatusOr<StoreBenchResult> RunStoreClients(const StoreBenchConfig& c, const std::string& master,
                                           uint64_t keys_per_client) {
  auto directory = transfer::MakePeerSegmentDirectory("kvc-dev-token");
  transfer::TransferEngineOptions eo;
  eo.listen_address = "";  // initiator only
  eo.backend = c.backend;
  KVC_ASSIGN_OR_RETURN(auto engine, transfer::CreateTransferEngine(eo, directory.get()));
  const uint64_t per_client = 2 * c.batch * c.value_size;
  // Page-aligned, like the registered buffers of a real engine (the nodes' DRAM is
  // page-aligned too; a 16-byte misalignment between source and destination makes
  // the kernel's copy markedly slower).
  const uint64_t memory_bytes = (per_client * c.clients + 4095) & ~uint64_t{4095};
  std::unique_ptr<char, decltype(&std::free)> memory(
      static_cast<char*>(std::aligned_alloc(4096, memory_bytes)), &std::free);
  if (!memory) return absl::ResourceExhaustedError("cannot allocate the client buffers");
  std::memset(memory.get(), 0, memory_bytes);
  KVC_RETURN_IF_ERROR(engine->RegisterMemory(memory.get(), memory_bytes, "cpu:0", false));
  store::StoreClientOptions co;
  co.master_address = master;
  co.replicas = c.replicas;
  co.lease_cache = c.lease_cache;
  KVC_ASSIGN_OR_RETURN(auto client, store::StoreClient::Create(co, *engine));

  Shared shared;
  const auto half =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(c.duration / 2));
  // Each phase starts when every thread has arrived; the completion step (run
  // before anyone is released) records that instant, so all threads see it.
  std::vector<Clock::time_point> phase_start;
  phase_start.reserve(4);
  auto mark = [&phase_start]() noexcept { phase_start.push_back(Clock::now()); };
  std::barrier sync(c.clients + 1, mark);
  std::vector<std::thread> threads;
  std::vector<uint64_t> stored_by(c.clients, 0);
  for (uint32_t t = 0; t < c.clients; ++t) {
    threads.emplace_back([&, t] {
      std::vector<char> tmpl(c.value_size);
      std::mt19937_64 rng(t + 1);
      for (auto& b : tmpl) b = static_cast<char>(rng());
      char* base = memory.get() + t * per_client;
      for (uint32_t k = 0; k < c.batch; ++k) {
        std::memcpy(base + k * c.value_size, tmpl.data(), c.value_size);
      }
      ClientThread ct{c, *client, base, base + c.batch * c.value_size, t, keys_per_client, shared};
      // Untimed warm-up: one put and remove of a key outside the run's range opens
      // the master channel and the transfer connection, and maps the node's region
      // (a one-time cost per client and node: ~0.4 s for 2 GiB of node DRAM).
      const BlockKey warm{~uint64_t{0} - t, 0};
      if (client->Put(warm, base, c.value_size).ok()) (void)client->Remove(warm);
      sync.arrive_and_wait();
      const uint64_t stored = ct.PutPhase(phase_start[0] + half, tmpl);
      stored_by[t] = stored;
      sync.arrive_and_wait();
      ct.GetPhase(phase_start[1] + half, tmpl, stored);
      sync.arrive_and_wait();
      ct.VerifyPass(tmpl, stored);
    });
  }
  sync.arrive_and_wait();
  sync.arrive_and_wait();
  sync.arrive_and_wait();  // timed phases over; the verification pass is not timed
  for (auto& th : threads) th.join();
  const Clock::time_point start = phase_start[0];
  const Clock::time_point get_start = phase_start[1];

  StoreBenchResult r;
  r.puts = shared.puts;
  r.gets = shared.gets;
  r.errors = shared.errors + shared.mismatches;
  r.put_retries = shared.retries;
  r.put_seconds = std::chrono::duration<double>(shared.put_end - start).count();
  r.get_seconds = std::chrono::duration<double>(shared.get_end - get_start).count();
  r.put_p50_us = Percentile(shared.put_us, 0.50);
  r.put_p99_us = Percentile(shared.put_us, 0.99);
  r.get_p50_us = Percentile(shared.get_us, 0.50);
  r.get_p99_us = Percentile(shared.get_us, 0.99);
  r.verified = shared.mismatches == 0 && shared.gets > 0 && shared.verified > 0;
  r.values_verified = shared.verified;
  r.first_error = shared.mismatches > 0
                      ? absl::StrCat(shared.mismatches, " gets returned wrong bytes")
                      : shared.first_error;
  if (c.transfer_reference) {
    std::vector<char*> buffers;
    for (uint32_t t = 0; t < c.clients; ++t) {
      buffers.push_back(memory.get() + t * per_client + c.batch * c.value_size);
    }
    r.transfer_bytes_per_second =
        TransferReference(c, master, *engine, buffers, stored_by, c.duration / 2,
                          &r.transfer_backend, &r.transfer_p50_us, &r.transfer_p99_us);
  }
  const v1::GetStatsResponse stats = MasterStats(master);
  r.demotions = stats.demotions();
  r.master_gets = stats.gets();
  return r;
}

}  // namespace kvc::bench

// `kvc-bench store --transfer-reference`: what the transfer engine alone moves
// for the same values. After the timed phases, the replica locations of every
// stored value are looked up once (BatchGet, outside the timing); then each
// client thread reads its values in turn through the engine with one-entry
// batches. The get phase minus this is the store's own cost (master lookups,
// leases, the client library): the bar compares the two.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

#include "bench/store_bench_internal.h"
#include "kvc/rpc/client.h"
#include "kvc/v1/store_master.grpc.pb.h"

namespace kvc::bench {
namespace {

struct Location {
  transfer::SegmentHandle segment = 0;
  uint64_t offset = 0;
  uint64_t length = 0;
};

// The first replica of keys {client+1, 0..count-1}, in chunks of 1000 keys.
StatusOr<std::vector<Location>> Locate(v1::StoreMaster::Stub& master,
                                       transfer::TransferEngine& engine, uint32_t client,
                                       uint64_t count) {
  std::vector<Location> out;
  for (uint64_t first = 0; first < count; first += 1000) {
    v1::BatchGetRequest req;
    for (uint64_t i = first; i < std::min(count, first + 1000); ++i) {
      v1::BlockKey* k = req.add_keys();
      k->set_hi(client + 1);
      k->set_lo(i);
    }
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::BatchGetResponse resp;
    grpc::Status s = master.BatchGet(&ctx, req, &resp);
    if (!s.ok()) return absl::UnavailableError("BatchGet: " + s.error_message());
    for (const v1::GetResponse& r : resp.results()) {
      if (r.replicas_size() == 0) return absl::NotFoundError("a stored value has no replica");
      const v1::MemoryDescriptor& m = r.replicas(0).location();
      KVC_ASSIGN_OR_RETURN(transfer::SegmentHandle h, engine.OpenSegment(m.segment_name()));
      out.push_back(Location{h, m.offset(), m.length()});
    }
  }
  return out;
}

// One read of `length` bytes; false on any failure.
bool ReadOnce(transfer::TransferEngine& engine, const Location& at, char* buffer) {
  auto batch = engine.AllocateBatch(1);
  if (!batch.ok()) return false;
  const transfer::TransferRequest req{transfer::TransferOp::kRead, buffer, at.segment, at.offset,
                                      at.length};
  Status s = engine.Submit(*batch, {req});
  if (s.ok()) s = engine.Wait(*batch, std::chrono::seconds(10));
  (void)engine.FreeBatch(*batch);
  return s.ok();
}

}  // namespace

double TransferReference(const StoreBenchConfig& c, const std::string& master_address,
                         transfer::TransferEngine& engine, const std::vector<char*>& buffers,
                         const std::vector<uint64_t>& stored, double seconds, std::string* backend,
                         double* p50_us, double* p99_us) {
  auto master = v1::StoreMaster::NewStub(MakeChannel(master_address));
  std::vector<std::vector<Location>> where(c.clients);
  for (uint32_t t = 0; t < c.clients; ++t) {
    auto located = Locate(*master, engine, t, stored[t]);
    if (!located.ok() || located->empty()) return 0;
    where[t] = std::move(*located);
  }
  auto name = engine.BackendOf(where[0][0].segment);
  *backend = name.ok() ? *name : "?";
  std::atomic<uint64_t> bytes{0};
  std::atomic<bool> failed{false};
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                               std::chrono::duration<double>(seconds));
  std::vector<std::thread> threads;
  std::vector<std::vector<double>> lat(c.clients);
  for (uint32_t t = 0; t < c.clients; ++t) {
    threads.emplace_back([&, t] {
      uint64_t mine = 0;
      for (uint64_t n = 0; std::chrono::steady_clock::now() < end; ++n) {
        const Location& at = where[t][n % where[t].size()];
        const auto t0 = std::chrono::steady_clock::now();
        if (!ReadOnce(engine, at, buffers[t])) {
          failed = true;
          return;
        }
        lat[t].push_back(
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0)
                .count());
        mine += at.length;
      }
      bytes += mine;
    });
  }
  for (auto& th : threads) th.join();
  std::vector<double> all;
  for (const auto& l : lat) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  if (!all.empty()) {
    *p50_us = all[all.size() / 2];
    *p99_us = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  }
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return failed || elapsed <= 0 ? 0 : static_cast<double>(bytes.load()) / elapsed;
}

}  // namespace kvc::bench

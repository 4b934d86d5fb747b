// TransferEngine: batched, sliced, zero-copy reads and writes between registered
// memory of this process and the registered memory of remote segments, over TCP,
// an intra-host path (shared mappings or cross-memory attach) and, when built, UCX / RDMA verbs.
//
// Every engine is both an initiator (it submits batches) and a target (it serves
// its registered remote-accessible regions on `listen_address`). The target side
// checks every access against its registered regions and refuses anything outside
// them without touching memory.
//
//   auto engine = CreateTransferEngine(options, directory.get());
//   KVC_RETURN_IF_ERROR((*engine)->RegisterMemory(buf, n, "cpu:0", true));
//   KVC_RETURN_IF_ERROR((*engine)->Publish());
//   KVC_ASSIGN_OR_RETURN(SegmentHandle peer, (*engine)->OpenSegment("10.0.0.2:4100"));
//   KVC_ASSIGN_OR_RETURN(BatchId b, (*engine)->AllocateBatch(16));
//   KVC_RETURN_IF_ERROR((*engine)->Submit(b, {{TransferOp::kWrite, buf, peer, raddr, n}}));
//   Status s = (*engine)->Wait(b, std::chrono::seconds(5));
//   KVC_RETURN_IF_ERROR((*engine)->FreeBatch(b));
//
// Thread-safe: every method may be called from any thread; many batches may be in
// flight from many threads at once. A batch id may be used from several threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kvc/common/config.h"
#include "kvc/common/status.h"
#include "kvc/transfer/fault_injector.h"
#include "kvc/transfer/segment.h"
#include "kvc/transfer/segment_directory.h"

namespace kvc::transfer {

struct TransferEngineOptions {
  // Name under which Publish() announces the segment. "" = the bound TCP address
  // ("127.0.0.1:41234"), which is also what the peer-to-peer directory expects.
  std::string segment_name;
  // host:port of the TCP target; port 0 picks a free port. "" = no target side
  // (initiator only: nothing of this process can be read or written remotely).
  std::string listen_address = "127.0.0.1:0";
  // What peers dial for this target: "host" (the bound port is used) or
  // "host:port" (a port mapped by NAT), host an IPv4 literal. Published as the
  // segment's TCP endpoint and, when segment_name is "", its name. "" = the bound
  // address, except that a wildcard bind (0.0.0.0) publishes 127.0.0.1 (reachable
  // from this host only; roles refuse that when their cluster is remote, see
  // CheckTransferAdvertise). Roles default it to the host of their gRPC advertise
  // address when listen_address binds a wildcard (DefaultTransferAdvertise).
  std::string advertise_address;
  // This node's host identity: peers with the same host id (and the same kernel
  // boot id) use the intra-host path (shm / cross-memory attach), all others
  // TCP (or verbs). "" = the kernel boot id. Set one distinct value per network
  // namespace / container that does not share pids and /dev/shm with the others
  // (docs/transfer.md, "Host identity").
  std::string host_id;
  // Shared secret every peer must present on connect; a wrong token is refused
  // and logged. Set the same value on every node of a cluster.
  std::string cluster_token = "kvc-dev-token";
  // Backend per peer: auto (same host → shm, else tcp), tcp, shm, ucx, verbs.
  std::string backend = "auto";
  // Entries are cut into slices of at most this many bytes; slices of one entry
  // spread over connections/paths. Smaller = more parallelism, more overhead.
  uint64_t slice_bytes = 64 << 10;
  // Slice size on the intra-host (shm) path, where a slice is one kernel copy
  // call and no connection spreading happens: larger amortises the per-call cost.
  uint64_t shm_slice_bytes = 256 << 10;
  // TCP connections kept per peer, each with its own sender/receiver threads.
  // More helps when one stream cannot fill the link; each costs two threads.
  uint32_t tcp_connections_per_peer = 2;
  // The TCP target's caps on connections it holds at once (still in their hello,
  // or authenticated and served): in total, and per peer IPv4 address. At a cap,
  // a new connection replaces the oldest one still in its hello, or is closed
  // when all are authenticated. Each served connection costs a thread.
  uint32_t tcp_max_connections = 1024;
  uint32_t tcp_max_connections_per_peer = 64;
  // A connection must complete its hello (the cluster token) within this long,
  // however slowly it sends, or it is closed (ms).
  uint32_t tcp_handshake_timeout_ms = 2000;
  // Worker threads per intra-host (shm) peer doing the copies.
  uint32_t shm_threads_per_peer = 2;
  // A peer that does not answer (connect, or an in-flight slice making no
  // progress) for this long is treated as dead: its slices fail with UNAVAILABLE.
  uint32_t peer_timeout_ms = 3000;
  // Attempts per slice (first try included) before its entry fails. Retries go to
  // another path (connection) when one is up.
  uint32_t max_attempts = 3;
  // A path whose connect failed is skipped for this long before being retried.
  uint32_t path_down_ms = 1000;
  // UnregisterMemory waits this long for in-flight transfers touching the region.
  uint32_t unregister_wait_ms = 3000;
  // Most entries one batch may hold.
  uint64_t max_batch_capacity = 1 << 20;
  // Most open remote peers (endpoints) kept; the least useful is evicted (SIEVE).
  uint32_t max_peers = 256;
  // Create a UCX context: publish a UCX worker address and per-region rkeys so
  // peers can use backend "ucx", and allow backend "ucx" here. Implied by
  // backend == "ucx". Costs a progress thread. UCX_TLS picks its transports.
  bool ucx_enable = false;
  // Topology matrix override (JSON, docs/transfer.md); "" = discover from /sys.
  std::string topology_json;
  // Serve shared mappings of AllocateSharedMemory regions to same-host peers
  // (an abstract Unix socket published as shm_socket; needs listen_address).
  // Off: same-host peers use cross-memory attach for every region.
  bool shm_export_enable = true;
};

// Binds every field under `prefix` (e.g. "transfer." → --transfer-slice-bytes).
void BindTransferEngineOptions(OptionSet& set, TransferEngineOptions* options,
                               const std::string& prefix = "transfer.");
// Checks the options; errors name the bad field.
[[nodiscard]] Status ValidateTransferEngineOptions(const TransferEngineOptions& options);

// The transfer.advertise_address a role should run with: options.advertise_address
// when set; else, when options.listen_address binds a wildcard host, the host of
// `rpc_advertise` (the gRPC address the role announces to its cluster) unless
// that is a wildcard too; else "" (the engine publishes the bound address).
std::string DefaultTransferAdvertise(const TransferEngineOptions& options,
                                     const std::string& rpc_advertise);
// The host the engine will publish for `options` (before binding): the host of
// advertise_address, else of listen_address, a wildcard or "localhost" read as
// 127.0.0.1. "" when the engine has no target (listen_address "").
std::string PublishedTransferHost(const TransferEngineOptions& options);
// Start-up check of a role: INVALID_ARGUMENT when the published host is loopback
// while one of `remotes` (master, conductor, ...: "host:port"; "" ignored) is on
// another host, naming the options to set. OK without a target.
[[nodiscard]] Status CheckTransferAdvertise(const TransferEngineOptions& options,
                                            const std::vector<std::string>& remotes);

enum class TransferOp { kRead, kWrite };  // read: remote → local; write: local → remote

using BatchId = uint64_t;
using SegmentHandle = uint64_t;

struct TransferRequest {
  TransferOp op = TransferOp::kWrite;
  void* local = nullptr;       // inside a region registered with this engine
  SegmentHandle target = 0;    // from OpenSegment
  uint64_t remote_offset = 0;  // remote address (see segment.h, "Addressing")
  uint64_t length = 0;         // bytes; > 0
};

enum class TransferState { kPending, kCompleted, kFailed };

struct TransferStatus {
  TransferState state = TransferState::kPending;
  uint64_t bytes_done = 0;  // bytes of the entry known to have arrived
  Status error;             // why it failed (kFailed only), e.g. UNAVAILABLE "peer ... died"
};

class TransferEngine {
 public:
  virtual ~TransferEngine() = default;

  // ---- memory ----
  // Registers [addr, addr+length) tagged with `location` ("cpu:0", "cuda:1").
  // remote_accessible regions are published in the segment and served to peers.
  // INVALID_ARGUMENT for a null/empty range, a bad location, or an overlap with
  // a registered region. The memory must stay valid until unregistered.
  [[nodiscard]] virtual Status RegisterMemory(void* addr, uint64_t length,
                                              const std::string& location,
                                              bool remote_accessible) = 0;
  // Unregisters the region starting at `addr`. Waits up to unregister_wait_ms for
  // in-flight local entries and remote accesses touching it (TCP requests, and
  // same-host peers' copies through a shared mapping), refusing new ones
  // meanwhile; DEADLINE_EXCEEDED (region stays registered) when they do not end.
  // Cross-memory-attach copies (same-host peers, memory not from
  // AllocateSharedMemory) cannot be seen or refused by this process.
  // NOT_FOUND when no region starts at `addr`. Call Publish() again afterwards
  // so peers see the change (the target refuses accesses to it at once anyway).
  [[nodiscard]] virtual Status UnregisterMemory(void* addr) = 0;
  // Allocates `length` bytes (zero-filled, page-rounded; 2 MiB huge pages when the
  // kernel has them reserved) that same-host peers can map: register the whole
  // allocation (exactly the returned address and `length`) remote-accessible and
  // peers on this host copy into it with memcpy instead of a kernel call per
  // slice (docs/transfer.md, "Shared-mapping path"). Valid until
  // FreeSharedMemory or the engine's destruction. INVALID_ARGUMENT for 0;
  // RESOURCE_EXHAUSTED when the kernel refuses.
  [[nodiscard]] virtual StatusOr<void*> AllocateSharedMemory(uint64_t length) {
    (void)length;
    return absl::UnimplementedError("this engine has no shared memory");
  }
  // Frees an AllocateSharedMemory allocation. NOT_FOUND when `addr` is not the
  // start of one; FAILED_PRECONDITION while a registered region lies inside it.
  [[nodiscard]] virtual Status FreeSharedMemory(void* addr) {
    (void)addr;
    return absl::UnimplementedError("this engine has no shared memory");
  }

  // ---- segments ----
  // This engine's descriptor (name, endpoints, remote-accessible regions, ...).
  virtual SegmentDescriptor LocalSegment() const = 0;
  // Publishes LocalSegment() to the directory.
  [[nodiscard]] virtual Status Publish() = 0;
  // Fetches `name` from the directory and prepares a path to it (backend chosen
  // per options.backend). Opening the same name again refreshes its descriptor
  // and returns the same handle.
  [[nodiscard]] virtual StatusOr<SegmentHandle> OpenSegment(const std::string& name) = 0;
  // Forgets a segment. FAILED_PRECONDITION while entries to it are in flight.
  [[nodiscard]] virtual Status CloseSegment(SegmentHandle handle) = 0;
  // The backend serving `handle` ("tcp", "shm", ...). NOT_FOUND for an unknown handle.
  [[nodiscard]] virtual StatusOr<std::string> BackendOf(SegmentHandle handle) const = 0;

  // ---- batches ----
  // A new batch that can hold `capacity` entries. INVALID_ARGUMENT when capacity
  // is 0 or above max_batch_capacity.
  [[nodiscard]] virtual StatusOr<BatchId> AllocateBatch(uint64_t capacity) = 0;
  // Appends `requests` to the batch and starts them. All-or-nothing: every entry
  // is validated first (local range registered, handle open, remote range inside
  // a region of the remote descriptor, capacity left); on error nothing starts.
  // Buffers must stay registered until their entries are no longer pending.
  [[nodiscard]] virtual Status Submit(BatchId batch,
                                      const std::vector<TransferRequest>& requests) = 0;
  // Status of entry `index` (submission order). NOT_FOUND / OUT_OF_RANGE for bad ids.
  [[nodiscard]] virtual StatusOr<TransferStatus> GetStatus(BatchId batch, uint64_t index) const = 0;
  // Status of every submitted entry, in submission order.
  [[nodiscard]] virtual StatusOr<std::vector<TransferStatus>> GetAllStatus(BatchId batch) const = 0;
  // Blocks until no entry of the batch is pending, or `timeout` passes.
  // OK when every entry completed; the first failed entry's error (message
  // prefixed with "entry N: ") when some failed; DEADLINE_EXCEEDED when entries are
  // still pending at the deadline (they keep running).
  [[nodiscard]] virtual Status Wait(BatchId batch, std::chrono::milliseconds timeout) = 0;
  // Frees the batch id. FAILED_PRECONDITION while any entry is pending.
  [[nodiscard]] virtual Status FreeBatch(BatchId batch) = 0;
};

// The RDMA start-up check (`backend: auto` runs it before it may choose verbs;
// kvcctl doctor runs it standalone): opens every RDMA device (port active, GID
// readable), then on each a test memory registration and a QP creation. The NIC
// names when all passed; NOT_FOUND when this host lists no RDMA device (or the
// build has no libibverbs): not an error, the engine uses TCP; any other error
// names the NIC and what failed.
[[nodiscard]] StatusOr<std::vector<std::string>> VerbsPreflight();

// Starts an engine: binds the TCP target (when listen_address is set) and
// discovers the topology. `directory` is borrowed and must outlive the engine;
// `faults` (tests only) likewise, or nullptr. Fails with a clear Status when the
// options are invalid or the address cannot be bound.
[[nodiscard]] StatusOr<std::unique_ptr<TransferEngine>> CreateTransferEngine(
    const TransferEngineOptions& options, SegmentDirectory* directory,
    FaultInjector* faults = nullptr);

}  // namespace kvc::transfer

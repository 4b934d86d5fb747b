#include "transfer/transfer_engine_impl.h"

#include <unistd.h>

#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "kvc/common/ids.h"
#include "kvc/common/logging.h"
#include "kvc/common/net_address.h"
#include "transfer/internal/backend_choice.h"
#include "transfer/internal/process_info.h"
#include "transfer/internal/topology.h"
#include "transfer/internal/verbs_context.h"
#include "transfer/shm_backend.h"
#include "transfer/tcp_backend.h"
#include "transfer/verbs_backend.h"
#ifdef KVC_HAVE_UCX
#include "transfer/internal/ucx_context.h"
#include "transfer/ucx_backend.h"
#endif

namespace kvc::transfer {

using internal::Slice;
using std::chrono::milliseconds;

TransferEngineImpl::TransferEngineImpl(const TransferEngineOptions& options,
                                       SegmentDirectory* directory, FaultInjector* faults)
    : options_(options), directory_(directory), faults_(faults) {
  MetricsRegistry& m = MetricsRegistry::Default();
  retries_ = &m.GetCounter("kvc_transfer_slice_retries_total",
                           "Slice attempts retried after a path failure");
  failed_entries_ =
      &m.GetCounter("kvc_transfer_failed_entries_total", "Transfer entries that ended failed");
}

Status TransferEngineImpl::Init() {
  KVC_RETURN_IF_ERROR(ValidateTransferEngineOptions(options_));
  boot_id_ = internal::BootId();
  host_id_ = options_.host_id.empty() ? boot_id_ : options_.host_id;
  TcpBackendOptions tcp;
  tcp.cluster_token = options_.cluster_token;
  tcp.connections_per_peer = options_.tcp_connections_per_peer;
  tcp.timeout = milliseconds(options_.peer_timeout_ms);
  tcp.path_down = milliseconds(options_.path_down_ms);
  backends_.push_back(MakeTcpBackend(tcp));
  backends_.push_back(
      MakeShmBackend({options_.shm_threads_per_peer, options_.cluster_token,
                      milliseconds(options_.peer_timeout_ms), host_id_, &peer_log_}));
#ifdef KVC_HAVE_UCX
  if (options_.ucx_enable || options_.backend == "ucx") {
    KVC_ASSIGN_OR_RETURN(ucx_, internal::UcxContext::Create());
  }
  backends_.push_back(MakeUcxBackend(ucx_));
#else
  if (options_.ucx_enable || options_.backend == "ucx") {
    return absl::UnavailableError("transfer.ucx_enable: this build has no UCX");
  }
#endif
  if (options_.topology_json.empty()) {
    topology_json_ = internal::DiscoverTopology().ToJson();
  } else {
    KVC_ASSIGN_OR_RETURN(internal::Topology topology,
                         internal::Topology::FromJson(options_.topology_json));
    topology_json_ = topology.ToJson();
  }
  KVC_RETURN_IF_ERROR(InitVerbs());
  if (!options_.listen_address.empty()) {
    TcpTarget::Options target;
    target.listen_address = options_.listen_address;
    target.cluster_token = options_.cluster_token;
    target.timeout = milliseconds(options_.peer_timeout_ms);
    target.max_connections = options_.tcp_max_connections;
    target.max_connections_per_peer = options_.tcp_max_connections_per_peer;
    target.handshake_timeout = milliseconds(options_.tcp_handshake_timeout_ms);
    if (verbs_) {
      target.verbs_connect = [v = verbs_](uint64_t connection, const std::string& request) {
        return v->Accept(connection, request);
      };
      target.verbs_disconnect = [v = verbs_](uint64_t connection) { v->Disconnect(connection); };
    }
    KVC_ASSIGN_OR_RETURN(target_, TcpTarget::Start(target, &regions_, [this] {
                           return EncodeSegmentDescriptor(LocalSegment());
                         }));
    if (options_.shm_export_enable) {
      StatusOr<std::unique_ptr<ShmExportServer>> shm =
          ShmExportServer::Start({options_.cluster_token, milliseconds(options_.peer_timeout_ms)},
                                 &regions_, &shared_memory_);
      if (shm.ok()) {
        shm_exports_ = std::move(*shm);
      } else {
        Logger("transfer")->warn("no shared-mapping exports: {}", shm.status().message());
      }
    }
  }
  if (target_) tcp_endpoint_ = AdvertisedEndpoint();
  segment_name_ = options_.segment_name;
  if (segment_name_.empty()) segment_name_ = target_ ? tcp_endpoint_ : NewNodeId("transfer");
  return absl::OkStatus();
}

// transfer.advertise_address with the bound port filled in; without one, the
// bound address, a wildcard host replaced by loopback (0.0.0.0 as a destination
// would make every peer dial itself).
std::string TransferEngineImpl::AdvertisedEndpoint() const {
  const std::string& bound = target_->address();
  const std::string port = bound.substr(bound.rfind(':') + 1);
  const std::string& advertise = options_.advertise_address;
  if (!advertise.empty()) {
    return advertise.find(':') == std::string::npos ? absl::StrCat(advertise, ":", port)
                                                    : advertise;
  }
  if (!IsUnspecifiedHost(HostOfAddress(bound))) return bound;
  Logger("transfer")
      ->warn(
          "transfer target bound to {} with no transfer.advertise_address: publishing 127.0.0.1:{} "
          "(reachable from this host only)",
          bound, port);
  return absl::StrCat("127.0.0.1:", port);
}

// Opens the RDMA devices (backend auto or verbs). Without one the engine still
// starts: backend auto never picks verbs, and backend verbs fails each
// OpenSegment with the reason.
Status TransferEngineImpl::InitVerbs() {
  Status unavailable =
      absl::UnavailableError("verbs backend: not enabled (backend is not auto or verbs)");
  if (options_.backend == "auto" || options_.backend == "verbs") {
    internal::VerbsContext::Options o;
    o.timeout = milliseconds(options_.peer_timeout_ms);
    StatusOr<std::shared_ptr<internal::VerbsContext>> verbs =
        internal::VerbsContext::Create(internal::EngineVerbsProvider(), o);
    if (verbs.ok()) {
      verbs_ = std::move(*verbs);
      CheckVerbs(&unavailable);
    } else {
      unavailable = verbs.status();
      if (options_.backend == "verbs") {
        Logger("transfer")->warn("{}", unavailable.message());
      }
    }
  }
  VerbsBackendOptions vo;
  vo.cluster_token = options_.cluster_token;
  vo.timeout = milliseconds(options_.peer_timeout_ms);
  vo.path_down = milliseconds(options_.path_down_ms);
  KVC_ASSIGN_OR_RETURN(vo.local_topology, internal::Topology::FromJson(topology_json_));
  backends_.push_back(MakeVerbsBackend(verbs_, std::move(vo), unavailable));
  return absl::OkStatus();
}

// The preflight (VerbsContext::Preflight) of opened devices, logged either way.
// `auto` drops a context that fails it, so it never chooses verbs on a NIC that
// cannot register memory; an explicit `verbs` keeps it (the operator asked).
void TransferEngineImpl::CheckVerbs(Status* unavailable) {
  Status preflight = verbs_->Preflight();
  if (preflight.ok()) {
    Logger("transfer")
        ->info("verbs preflight passed on {}: backend {} may use RDMA",
               absl::StrJoin(verbs_->nics(), ","), options_.backend);
    return;
  }
  if (options_.backend == "auto") {
    Logger("transfer")->warn("{}; backend auto will not use verbs", preflight.message());
    verbs_.reset();
    *unavailable = preflight;
  } else {
    Logger("transfer")
        ->warn("{}; backend verbs is configured, trying it anyway", preflight.message());
  }
}

StatusOr<std::vector<std::string>> VerbsPreflight() {
  internal::VerbsProvider& provider = internal::EngineVerbsProvider();
  StatusOr<std::vector<std::string>> listed = provider.List();
  if (!listed.ok() || listed->empty()) {
    return absl::NotFoundError(
        absl::StrCat("no RDMA device: ", listed.ok() ? "none listed" : listed.status().message()));
  }
  KVC_ASSIGN_OR_RETURN(std::shared_ptr<internal::VerbsContext> context,
                       internal::VerbsContext::Create(provider, {}));
  KVC_RETURN_IF_ERROR(context->Preflight());
  if (context->nics().size() < listed->size()) {
    return absl::UnavailableError(absl::StrCat("only ", absl::StrJoin(context->nics(), ","), " of ",
                                               absl::StrJoin(*listed, ","),
                                               " could be opened (see the log)"));
  }
  return context->nics();
}

TransferEngineImpl::~TransferEngineImpl() {
  shutting_down_ = true;  // failed slices are no longer retried
  target_.reset();        // no remote access once we start tearing down
  shm_exports_.reset();   // every exported mapping is marked gone
  std::map<SegmentHandle, std::unique_ptr<Peer>> peers;
  {
    std::lock_guard lock(mu_);
    peers.swap(peers_);
  }
  // Channels fail what they still hold (CANCELLED) and join their threads, so no
  // callback can arrive after this line.
  for (auto& [handle, peer] : peers) peer->channel.reset();
}

Status TransferEngineImpl::RegisterMemory(void* addr, uint64_t length, const std::string& location,
                                          bool remote_accessible) {
  const uint64_t address = reinterpret_cast<uint64_t>(addr);
  KVC_RETURN_IF_ERROR(regions_.Add(address, length, location, remote_accessible));
  if (verbs_) {
    Status registered = verbs_->Register(address, length, location, remote_accessible);
    if (!registered.ok()) {
      (void)regions_.Remove(address, milliseconds(0));
      return registered;
    }
  }
#ifdef KVC_HAVE_UCX
  if (ucx_ && remote_accessible) {
    StatusOr<std::string> rkey = ucx_->Map(address, length);
    if (!rkey.ok()) {
      if (verbs_) verbs_->Deregister(address);
      (void)regions_.Remove(address, milliseconds(0));
      return rkey.status();
    }
  }
#endif
  return absl::OkStatus();
}

Status TransferEngineImpl::UnregisterMemory(void* addr) {
  const uint64_t address = reinterpret_cast<uint64_t>(addr);
  KVC_RETURN_IF_ERROR(
      regions_.Remove(address, milliseconds(options_.unregister_wait_ms), shm_exports_.get()));
  if (verbs_) verbs_->Deregister(address);  // from here the NICs refuse its rkeys
#ifdef KVC_HAVE_UCX
  if (ucx_) ucx_->Unmap(address);
#endif
  return absl::OkStatus();
}

StatusOr<void*> TransferEngineImpl::AllocateSharedMemory(uint64_t length) {
  return shared_memory_.Allocate(length);
}

Status TransferEngineImpl::FreeSharedMemory(void* addr) {
  const auto [start, length] = shared_memory_.Find(reinterpret_cast<uint64_t>(addr));
  if (length > 0 && regions_.Overlaps(start, length)) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "shared memory at %p still holds a registered region; unregister it first", addr));
  }
  return shared_memory_.Free(addr);
}

SegmentDescriptor TransferEngineImpl::LocalSegment() const {
  SegmentDescriptor d;
  d.name = segment_name_;
  d.hostname = HostName();
  d.boot_id = boot_id_;
  d.host_id = host_id_;
  d.pid = getpid();
  d.pid_start_time = internal::ProcessStartTime(d.pid);
  if (target_) d.tcp_endpoints.push_back(tcp_endpoint_);
  d.regions = regions_.RemoteRegions();
#ifdef KVC_HAVE_UCX
  if (ucx_) {
    d.ucx_worker_address = ucx_->worker_address_hex();
    for (RegionDescriptor& r : d.regions) r.ucx_rkey = ucx_->RkeyOf(r.address);
  }
#endif
  if (verbs_) {
    d.verbs_nics = verbs_->nics();
    for (RegionDescriptor& r : d.regions) r.verbs_rkeys = verbs_->RemoteKeys(r.address);
  }
  d.topology_json = topology_json_;
  if (shm_exports_) d.shm_socket = shm_exports_->socket_name();
  return d;
}

Status TransferEngineImpl::Publish() { return directory_->Publish(LocalSegment()); }

StatusOr<std::unique_ptr<internal::PeerChannel>> TransferEngineImpl::OpenChannel(
    const SegmentDescriptor& remote) {
  const std::string& choice = options_.backend;
  auto backend = [&](const std::string& name) -> internal::Backend* {
    for (auto& b : backends_) {
      if (b->name() == name) return b.get();
    }
    return nullptr;
  };
  auto opened = [&](StatusOr<std::unique_ptr<internal::PeerChannel>> channel,
                    const std::string& why) {
    if (channel.ok() && peer_log_.First(remote.name, "backend:" + (*channel)->backend())) {
      Logger("transfer")
          ->info("peer {}: using backend {} ({})", remote.name, (*channel)->backend(), why);
    }
    return channel;
  };
  if (choice != "auto") {
    internal::Backend* b = backend(choice);
    if (b == nullptr) {
      return absl::UnavailableError(absl::StrCat("backend '", choice, "' is not built in"));
    }
    return opened(b->Open(remote), "transfer.backend");
  }
  const internal::LocalCapabilities local{host_id_, boot_id_, verbs_ != nullptr};
  const std::vector<std::string> order = internal::ChooseBackends(local, remote);
  const std::string reason = internal::ChoiceReason(local, remote);
  std::string why = "auto: " + reason;
  for (size_t i = 0; i + 1 < order.size(); ++i) {
    auto channel = backend(order[i])->Open(remote);
    if (channel.ok()) return opened(std::move(channel), why);
    NoteFallback(remote, order[i], order[i + 1], channel.status());
    why += absl::StrCat(", ", order[i], " unavailable");
  }
  return opened(backend(order.back())->Open(remote), why);
}

void TransferEngineImpl::NoteFallback(const SegmentDescriptor& remote, const std::string& from,
                                      const std::string& to, const Status& why) {
  MetricsRegistry::Default()
      .GetCounter("kvc_transfer_backend_fallbacks_total",
                  "Peers whose preferred transport failed, by the transport used instead",
                  {{"from", from}, {"to", to}})
      .Increment();
  if (peer_log_.First(remote.name, "fallback:" + from)) {
    Logger("transfer")
        ->warn("peer {}: {} path unavailable ({}); falling back to {}", remote.name, from,
               why.message(), to);
  }
}

Status TransferEngineImpl::OpenPeerLocked(Peer& peer, const SegmentDescriptor& remote) {
  KVC_ASSIGN_OR_RETURN(peer.channel, OpenChannel(remote));
  const std::string backend = peer.channel->backend();
  peer.slice_bytes = SliceBytesFor(backend);
  MetricsRegistry& m = MetricsRegistry::Default();
  const char* help = "Bytes moved by completed transfer slices, by direction and backend";
  peer.bytes_read =
      &m.GetCounter("kvc_transfer_bytes_total", help, {{"op", "read"}, {"backend", backend}});
  peer.bytes_written =
      &m.GetCounter("kvc_transfer_bytes_total", help, {{"op", "write"}, {"backend", backend}});
  return absl::OkStatus();
}

StatusOr<SegmentHandle> TransferEngineImpl::OpenSegment(const std::string& name) {
  KVC_ASSIGN_OR_RETURN(SegmentDescriptor descriptor, directory_->Fetch(name));
  std::lock_guard lock(mu_);
  auto known = handles_by_name_.find(name);
  if (known != handles_by_name_.end()) {
    Peer& peer = *peers_.at(known->second);
    // A verbs channel holds the rkeys it was opened with: re-open it when regions changed.
    const bool stale_keys = peer.channel->backend() == "verbs" &&
                            !(peer.descriptor.regions == descriptor.regions &&
                              peer.descriptor.verbs_nics == descriptor.verbs_nics);
    if (peer.pending_entries == 0 &&
        (stale_keys || !(peer.descriptor.tcp_endpoints == descriptor.tcp_endpoints &&
                         peer.descriptor.pid == descriptor.pid))) {
      KVC_RETURN_IF_ERROR(OpenPeerLocked(peer, descriptor));
    }
    peer.descriptor = std::move(descriptor);
    peer_order_.Touch(known->second);
    return known->second;
  }
  if (peers_.size() >= options_.max_peers) KVC_RETURN_IF_ERROR(EvictPeerLocked());
  auto peer = std::make_unique<Peer>();
  peer->name = name;
  KVC_RETURN_IF_ERROR(OpenPeerLocked(*peer, descriptor));
  peer->descriptor = std::move(descriptor);
  const SegmentHandle handle = next_handle_++;
  peers_[handle] = std::move(peer);
  handles_by_name_[name] = handle;
  peer_order_.Insert(handle);
  return handle;
}

uint64_t TransferEngineImpl::SliceBytesFor(const std::string& backend) const {
  return backend == "shm" ? options_.shm_slice_bytes : options_.slice_bytes;
}

Status TransferEngineImpl::EvictPeerLocked() {
  std::optional<SegmentHandle> victim =
      peer_order_.Evict([&](const SegmentHandle& h) { return peers_.at(h)->pending_entries == 0; });
  if (!victim) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "all ", peers_.size(), " open segments (transfer.max_peers) have transfers in flight"));
  }
  handles_by_name_.erase(peers_.at(*victim)->name);
  peers_.erase(*victim);
  return absl::OkStatus();
}

Status TransferEngineImpl::CloseSegment(SegmentHandle handle) {
  std::unique_ptr<Peer> peer;
  {
    std::lock_guard lock(mu_);
    auto it = peers_.find(handle);
    if (it == peers_.end()) return absl::NotFoundError(absl::StrCat("no open segment ", handle));
    if (it->second->pending_entries > 0) {
      return absl::FailedPreconditionError(absl::StrCat("segment ", it->second->name, " has ",
                                                        it->second->pending_entries.load(),
                                                        " entries in flight"));
    }
    peer = std::move(it->second);
    peers_.erase(it);
    handles_by_name_.erase(peer->name);
    peer_order_.Erase(handle);
  }
  return absl::OkStatus();
}

StatusOr<std::string> TransferEngineImpl::BackendOf(SegmentHandle handle) const {
  std::lock_guard lock(mu_);
  auto it = peers_.find(handle);
  if (it == peers_.end()) return absl::NotFoundError(absl::StrCat("no open segment ", handle));
  return it->second->channel->backend();
}

StatusOr<BatchId> TransferEngineImpl::AllocateBatch(uint64_t capacity) {
  if (capacity == 0 || capacity > options_.max_batch_capacity) {
    return absl::InvalidArgumentError(absl::StrCat("batch capacity ", capacity,
                                                   " is outside 1..transfer.max_batch_capacity (",
                                                   options_.max_batch_capacity, ")"));
  }
  auto batch = std::make_shared<Batch>();
  batch->capacity = capacity;
  std::lock_guard lock(mu_);
  const BatchId id = next_batch_++;
  batches_[id] = std::move(batch);
  return id;
}

std::shared_ptr<TransferEngineImpl::Batch> TransferEngineImpl::FindBatch(BatchId id) const {
  std::lock_guard lock(mu_);
  auto it = batches_.find(id);
  return it == batches_.end() ? nullptr : it->second;
}

}  // namespace kvc::transfer

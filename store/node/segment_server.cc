#include "kvc/store/segment_server.h"

#include <sys/mman.h>

#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "kvc/common/ids.h"
#include "kvc/common/logging.h"
#include "kvc/rpc/auth.h"
#include "kvc/rpc/client.h"
#include "kvc/rpc/grpc_status.h"
#include "store/node/segment_server_impl.h"
#include "store/proto_convert.h"

namespace kvc::store {

NodeMemory::NodeMemory(transfer::TransferEngine& e, uint64_t bytes, bool want_shared) : engine(e) {
  if (want_shared) {
    auto got = engine.AllocateSharedMemory(bytes);
    if (got.ok()) {
      data = static_cast<char*>(*got);
      shared = true;
    }
  }
  if (data == nullptr) {
    // 2 MiB aligned and advised as transparent huge pages: peers' cross-memory
    // attach copies pin every page they touch, and a huge page is one pin and one
    // TLB entry instead of 512.
    constexpr uint64_t kHuge = 2ull << 20;
    const uint64_t rounded = (bytes + kHuge - 1) & ~(kHuge - 1);
    data = static_cast<char*>(std::aligned_alloc(kHuge, rounded));
    if (data != nullptr) (void)madvise(data, rounded, MADV_HUGEPAGE);  // best effort
  }
  if (data != nullptr) {
    size = bytes;
    std::memset(data, 0, bytes);  // touch the pages now, not on the first transfer
  }
}

NodeMemory::~NodeMemory() {
  if (data == nullptr) return;
  if (!shared) {
    std::free(data);
  } else if (Status s = engine.FreeSharedMemory(data); !s.ok()) {
    Logger("store")->warn("freeing shared node memory: {}", s);
  }
}

StatusOr<std::unique_ptr<SegmentServer>> SegmentServer::Create(const SegmentServerOptions& options,
                                                               transfer::TransferEngine& engine) {
  auto server = std::make_unique<SegmentServerImpl>(options, engine);
  KVC_RETURN_IF_ERROR(server->Init());
  return std::unique_ptr<SegmentServer>(std::move(server));
}

SegmentServerImpl::SegmentServerImpl(const SegmentServerOptions& options,
                                     transfer::TransferEngine& engine)
    : options_(options),
      engine_(engine),
      interval_ms_(options.heartbeat_interval_ms),
      staging_alloc_(options.staging_bytes) {}

SegmentServerImpl::~SegmentServerImpl() {
  Stop(false);
  // Unregister before freeing: the engine refuses to free shared memory that
  // still holds a registered region, and peers must stop touching it first.
  if (dram_ && dram_->data) (void)engine_.UnregisterMemory(dram_->data);
  if (staging_ && staging_->data) (void)engine_.UnregisterMemory(staging_->data);
  dram_.reset();
  staging_.reset();
}

Status SegmentServerImpl::Init() {
  if (options_.node_id.empty()) return absl::InvalidArgumentError("node_id: must not be empty");
  if (options_.dram_bytes == 0 || options_.staging_bytes == 0) {
    return absl::InvalidArgumentError("store.dram_bytes and store.staging_bytes must be > 0");
  }
  hostname_ = options_.hostname.empty() ? HostName() : options_.hostname;
  dram_ = std::make_unique<NodeMemory>(engine_, options_.dram_bytes, options_.shared_memory);
  staging_ = std::make_unique<NodeMemory>(engine_, options_.staging_bytes, options_.shared_memory);
  if (dram_->data == nullptr || staging_->data == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("store.dram_bytes: cannot allocate ", options_.dram_bytes, " bytes"));
  }
  Logger("store")->info(
      "DRAM region {} bytes in {}", dram_->size,
      dram_->shared ? "shared memory (same-host peers copy with memcpy)" : "private memory");
  KVC_RETURN_IF_ERROR(engine_.RegisterMemory(dram_->data, dram_->size, "cpu:0", true));
  KVC_RETURN_IF_ERROR(engine_.RegisterMemory(staging_->data, staging_->size, "cpu:0", true));
  KVC_RETURN_IF_ERROR(engine_.Publish());
  if (!options_.ssd_path.empty()) {
    KVC_ASSIGN_OR_RETURN(ssd_, SsdTier::Open(options_.ssd_path));
  }
  KVC_ASSIGN_OR_RETURN(locator_,
                       MasterLocator::Create(options_.master_address, options_.etcd_endpoints,
                                             options_.etcd_prefix));
  return Status();
}

std::unique_ptr<grpc::ClientContext> SegmentServerImpl::Ctx() const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(options_.rpc_timeout_ms));
  if (!options_.cluster_token.empty()) AddBearerToken(ctx.get(), options_.cluster_token);
  return ctx;
}

void SegmentServerImpl::Run(const std::string& rpc_address) {
  rpc_address_ = rpc_address;
  thread_ = std::thread([this] { Loop(); });
}

bool SegmentServerImpl::registered() const {
  std::lock_guard lock(mu_);
  return registered_;
}

void SegmentServerImpl::Stop(bool unmount) {
  {
    std::lock_guard lock(mu_);
    if (stop_) return;
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (!unmount || !master_) return;
  for (auto tier : {v1::STORAGE_TIER_DRAM, v1::STORAGE_TIER_SSD}) {
    if (tier == v1::STORAGE_TIER_SSD && !ssd_) continue;
    v1::UnmountSegmentRequest req;
    req.set_node_id(options_.node_id);
    req.set_tier(tier);
    v1::UnmountSegmentResponse resp;
    (void)master_->UnmountSegment(Ctx().get(), req, &resp);
  }
}

void SegmentServerImpl::Loop() {
  auto log = Logger("store");
  Status last;
  std::unique_lock lock(mu_);
  while (!stop_) {
    const bool need_register = !registered_;
    lock.unlock();
    Status s = need_register ? Register() : Beat();
    if (!s.ok() && s.ToString() != last.ToString()) log->warn("master: {}", s);
    if (s.ok() && !last.ok()) log->info("master reachable again");
    last = s;
    lock.lock();
    if (!s.ok() && !need_register) registered_ = false;
    wake_.wait_for(lock, std::chrono::milliseconds(interval_ms_), [this] { return stop_; });
  }
}

Status SegmentServerImpl::Register() {
  // (Re)locate the master: in etcd mode a new leader may have been elected.
  KVC_ASSIGN_OR_RETURN(const std::string address, locator_->Resolve());
  if (!master_ || address != master_in_use_) {
    master_ = v1::StoreMaster::NewStub(MakeChannel(address));
    master_in_use_ = address;
  }
  SegmentSpec dram{.node_id = options_.node_id,
                   .hostname = hostname_,
                   .tier = Tier::kDram,
                   .capacity_bytes = options_.dram_bytes,
                   .transfer_segment = engine_.LocalSegment().name,
                   .rpc_address = rpc_address_,
                   .base_address = reinterpret_cast<uint64_t>(dram_->data)};
  std::vector<SegmentSpec> specs = {dram};
  if (ssd_) {
    SegmentSpec ssd = dram;
    ssd.tier = Tier::kSsd;
    ssd.capacity_bytes = options_.ssd_bytes;
    specs.push_back(ssd);
  }
  for (const SegmentSpec& spec : specs) {
    v1::MountSegmentRequest req;
    ToProto(spec, req.mutable_segment());
    v1::MountSegmentResponse resp;
    KVC_RETURN_IF_ERROR(FromGrpcStatus(master_->MountSegment(Ctx().get(), req, &resp)));
    std::lock_guard lock(mu_);
    if (resp.heartbeat_interval_ms() > 0) interval_ms_ = resp.heartbeat_interval_ms();
  }
  KVC_RETURN_IF_ERROR(ReportContents(v1::STORAGE_TIER_DRAM));
  if (ssd_) KVC_RETURN_IF_ERROR(ReportContents(v1::STORAGE_TIER_SSD));
  std::lock_guard lock(mu_);
  registered_ = true;
  done_.clear();  // results of tasks from a forgotten master mean nothing now
  Logger("store")->info("{} registered with master {}", options_.node_id, master_in_use_);
  return Status();
}

Status SegmentServerImpl::ReportContents(v1::StorageTier tier) {
  v1::ReportReplicasRequest req;
  req.set_node_id(options_.node_id);
  req.set_tier(tier);
  if (tier == v1::STORAGE_TIER_DRAM) {
    std::lock_guard lock(mu_);
    for (const auto& [key, where] : dram_contents_) {
      v1::ReportedReplica* r = req.add_replicas();
      ToProto(key, r->mutable_key());
      r->set_offset(where.first);
      r->set_size(where.second);
    }
  } else {
    KVC_RETURN_IF_ERROR(ssd_->ForEach([&req](const BlockKey& key, uint64_t size) {
      v1::ReportedReplica* r = req.add_replicas();
      ToProto(key, r->mutable_key());
      r->set_size(size);
    }));
  }
  v1::ReportReplicasResponse resp;
  KVC_RETURN_IF_ERROR(FromGrpcStatus(master_->ReportReplicas(Ctx().get(), req, &resp)));
  for (const v1::BlockKey& k : resp.refused()) {
    if (tier == v1::STORAGE_TIER_SSD) {
      (void)ssd_->Delete(FromProto(k));
    } else {
      std::lock_guard lock(mu_);
      dram_contents_.erase(FromProto(k));
    }
  }
  return Status();
}

Status SegmentServerImpl::Beat() {
  v1::StoreHeartbeatRequest req;
  req.set_node_id(options_.node_id);
  for (const v1::NodeTaskResult& r : done_) *req.add_done() = r;
  v1::StoreHeartbeatResponse resp;
  KVC_RETURN_IF_ERROR(FromGrpcStatus(master_->Heartbeat(Ctx().get(), req, &resp)));
  done_.clear();
  if (resp.reregister()) {
    std::lock_guard lock(mu_);
    registered_ = false;
    return Status();
  }
  for (const v1::NodeTask& task : resp.tasks()) {
    const bool ok = RunTask(task);
    if (task.kind() == v1::NODE_TASK_KIND_DEMOTE || task.kind() == v1::NODE_TASK_KIND_REPLICATE ||
        task.kind() == v1::NODE_TASK_KIND_PROMOTE) {
      v1::NodeTaskResult r;
      r.set_id(task.id());
      r.set_ok(ok);
      done_.push_back(r);
    }
  }
  return Status();
}

}  // namespace kvc::store

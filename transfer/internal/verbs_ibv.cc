// The libibverbs implementation of the verbs seam (verbs_device.h). Compiled and
// type-checked on the development machine, which has no RDMA device: it has
// never run against a real NIC (docs/transfer.md, "Verbs backend").
#include <poll.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <random>

#include "absl/strings/str_cat.h"
#include "transfer/internal/verbs_device.h"

#ifdef KVC_HAVE_VERBS
#include <infiniband/verbs.h>
#endif

namespace kvc::transfer::internal {

#ifdef KVC_HAVE_VERBS
namespace {

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

Status Errno(const std::string& what, int err) {
  return absl::UnavailableError(absl::StrCat(what, ": ", std::strerror(err)));
}

VerbsCompletionCode CodeOf(ibv_wc_status status) {
  switch (status) {
    case IBV_WC_SUCCESS:
      return VerbsCompletionCode::kOk;
    case IBV_WC_WR_FLUSH_ERR:
      return VerbsCompletionCode::kFlushed;
    case IBV_WC_RETRY_EXC_ERR:
    case IBV_WC_RNR_RETRY_EXC_ERR:
    case IBV_WC_RESP_TIMEOUT_ERR:
      return VerbsCompletionCode::kRetryExceeded;
    case IBV_WC_REM_ACCESS_ERR:
    case IBV_WC_REM_INV_REQ_ERR:
    case IBV_WC_REM_INV_RD_REQ_ERR:
      return VerbsCompletionCode::kRemoteAccess;
    default:
      return VerbsCompletionCode::kOther;
  }
}

uint32_t RandomPsn() {
  std::random_device random;
  return random() & 0xFFFFFF;
}

struct PortInfo {
  uint8_t port = 1;
  int gid_index = 0;
  ibv_port_attr attr{};
  ibv_gid gid{};
  uint8_t max_rd_atomic = 1;       // initiator depth (max_qp_init_rd_atom)
  uint8_t max_dest_rd_atomic = 1;  // responder resources (max_qp_rd_atom)
};

bool IsZero(const ibv_gid& gid) {
  for (uint8_t b : gid.raw) {
    if (b != 0) return false;
  }
  return true;
}

// The GID index to use on an Ethernet (RoCE) port: the first RoCE v2 entry with an
// IPv4-mapped address, else the first RoCE v2 entry, else 0. InfiniBand: 0.
int ChooseGidIndex(ibv_context* context, uint8_t port, const ibv_port_attr& attr) {
  if (attr.link_layer != IBV_LINK_LAYER_ETHERNET) return 0;
  int any_v2 = -1;
  for (int i = 0; i < attr.gid_tbl_len; ++i) {
    ibv_gid_entry entry{};
    if (ibv_query_gid_ex(context, port, i, &entry, 0) != 0) continue;
    if (entry.gid_type != IBV_GID_TYPE_ROCE_V2 || IsZero(entry.gid)) continue;
    const uint8_t* raw = entry.gid.raw;
    const bool ipv4 = std::all_of(raw, raw + 10, [](uint8_t b) { return b == 0; }) &&
                      raw[10] == 0xff && raw[11] == 0xff;
    if (ipv4) return i;
    if (any_v2 < 0) any_v2 = i;
  }
  return std::max(any_v2, 0);
}

class IbvQueuePair final : public VerbsQueuePair {
 public:
  IbvQueuePair(ibv_qp* qp, const PortInfo& port) : qp_(qp), port_(port) {
    local_.qpn = qp->qp_num;
    local_.psn = RandomPsn();
    local_.lid = port.attr.lid;
    local_.mtu = static_cast<uint8_t>(port.attr.active_mtu);
    local_.port = port.port;
    std::memcpy(local_.gid.data(), port.gid.raw, 16);
  }
  ~IbvQueuePair() override { ibv_destroy_qp(qp_); }

  VerbsAddress local() const override { return local_; }

  Status Connect(const VerbsAddress& remote) override {
    ibv_qp_attr attr{};
    attr.qp_state = IBV_QPS_INIT;
    attr.pkey_index = 0;
    attr.port_num = port_.port;
    attr.qp_access_flags =
        IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE;
    int rc = ibv_modify_qp(qp_, &attr,
                           IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS);
    if (rc != 0) return Errno("ibv_modify_qp INIT", rc);
    attr = {};
    attr.qp_state = IBV_QPS_RTR;
    attr.path_mtu = static_cast<ibv_mtu>(std::min(local_.mtu, remote.mtu));
    attr.dest_qp_num = remote.qpn;
    attr.rq_psn = remote.psn;
    attr.max_dest_rd_atomic = port_.max_dest_rd_atomic;
    attr.min_rnr_timer = 12;
    attr.ah_attr.dlid = remote.lid;
    attr.ah_attr.port_num = port_.port;
    static const std::array<uint8_t, 16> kZero{};
    if (remote.gid != kZero) {  // RoCE, or IB across subnets: route by GID
      attr.ah_attr.is_global = 1;
      std::memcpy(attr.ah_attr.grh.dgid.raw, remote.gid.data(), 16);
      attr.ah_attr.grh.sgid_index = static_cast<uint8_t>(port_.gid_index);
      attr.ah_attr.grh.hop_limit = 64;
    }
    rc = ibv_modify_qp(qp_, &attr,
                       IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN |
                           IBV_QP_RQ_PSN | IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER);
    if (rc != 0) return Errno("ibv_modify_qp RTR", rc);
    attr = {};
    attr.qp_state = IBV_QPS_RTS;
    attr.timeout = 14;  // 4.096 µs × 2^14 ≈ 67 ms per try
    attr.retry_cnt = 7;
    attr.rnr_retry = 7;
    attr.sq_psn = local_.psn;
    attr.max_rd_atomic = port_.max_rd_atomic;
    rc = ibv_modify_qp(qp_, &attr,
                       IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY |
                           IBV_QP_SQ_PSN | IBV_QP_MAX_QP_RD_ATOMIC);
    if (rc != 0) return Errno("ibv_modify_qp RTS", rc);
    return absl::OkStatus();
  }

  Status Post(const VerbsWork& work) override {
    ibv_sge sge{};
    sge.addr = work.local;
    sge.length = work.length;
    sge.lkey = work.lkey;
    ibv_send_wr wr{};
    wr.wr_id = work.id;
    wr.sg_list = &sge;
    wr.num_sge = 1;
    wr.opcode = work.write ? IBV_WR_RDMA_WRITE : IBV_WR_RDMA_READ;
    wr.send_flags = IBV_SEND_SIGNALED;
    wr.wr.rdma.remote_addr = work.remote;
    wr.wr.rdma.rkey = work.rkey;
    ibv_send_wr* bad = nullptr;
    const int rc = ibv_post_send(qp_, &wr, &bad);
    return rc == 0 ? absl::OkStatus() : Errno("ibv_post_send", rc);
  }

  void Fail() override {
    ibv_qp_attr attr{};
    attr.qp_state = IBV_QPS_ERR;
    (void)ibv_modify_qp(qp_, &attr, IBV_QP_STATE);
  }

 private:
  ibv_qp* const qp_;
  const PortInfo port_;
  VerbsAddress local_;
};

class IbvDevice final : public VerbsDevice {
 public:
  ~IbvDevice() override {
    {
      std::lock_guard lock(mu_);
      for (auto& [address, mr] : mrs_) ibv_dereg_mr(mr);
    }
    if (cq_ != nullptr) ibv_destroy_cq(cq_);
    if (channel_ != nullptr) ibv_destroy_comp_channel(channel_);
    if (pd_ != nullptr) ibv_dealloc_pd(pd_);
    if (context_ != nullptr) ibv_close_device(context_);
  }

  static StatusOr<std::unique_ptr<VerbsDevice>> Open(ibv_device* device) {
    auto d = std::unique_ptr<IbvDevice>(new IbvDevice(ibv_get_device_name(device)));
    d->context_ = ibv_open_device(device);
    if (d->context_ == nullptr) return Errno("ibv_open_device " + d->name_, errno);
    KVC_RETURN_IF_ERROR(d->QueryPort());
    d->pd_ = ibv_alloc_pd(d->context_);
    if (d->pd_ == nullptr) return Errno("ibv_alloc_pd on " + d->name_, errno);
    d->channel_ = ibv_create_comp_channel(d->context_);
    if (d->channel_ == nullptr) return Errno("ibv_create_comp_channel on " + d->name_, errno);
    ibv_device_attr attr{};
    const int depth = ibv_query_device(d->context_, &attr) == 0
                          ? std::min(kCqDepth, std::max(attr.max_cqe, 256))
                          : 4096;
    d->cq_ = ibv_create_cq(d->context_, depth, nullptr, d->channel_, 0);
    if (d->cq_ == nullptr) return Errno("ibv_create_cq on " + d->name_, errno);
    return std::unique_ptr<VerbsDevice>(std::move(d));
  }

  const std::string& name() const override { return name_; }

  StatusOr<VerbsKeys> Register(uint64_t address, uint64_t length, bool remote) override {
    int access = IBV_ACCESS_LOCAL_WRITE;
    if (remote) access |= IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE;
    ibv_mr* mr = ibv_reg_mr(pd_, reinterpret_cast<void*>(address), length, access);
    if (mr == nullptr) return Errno("ibv_reg_mr on " + name_, errno);
    std::lock_guard lock(mu_);
    mrs_[address] = mr;
    return VerbsKeys{mr->lkey, remote ? mr->rkey : 0};
  }

  void Deregister(uint64_t address) override {
    std::lock_guard lock(mu_);
    auto it = mrs_.find(address);
    if (it == mrs_.end()) return;
    ibv_dereg_mr(it->second);
    mrs_.erase(it);
  }

  StatusOr<std::unique_ptr<VerbsQueuePair>> CreateQueuePair(uint32_t max_outstanding) override {
    ibv_qp_init_attr init{};
    init.send_cq = cq_;
    init.recv_cq = cq_;
    init.qp_type = IBV_QPT_RC;
    init.sq_sig_all = 0;
    init.cap.max_send_wr = max_outstanding;
    init.cap.max_recv_wr = 1;
    init.cap.max_send_sge = 1;
    init.cap.max_recv_sge = 1;
    ibv_qp* qp = ibv_create_qp(pd_, &init);
    if (qp == nullptr) return Errno("ibv_create_qp on " + name_, errno);
    return std::unique_ptr<VerbsQueuePair>(new IbvQueuePair(qp, port_));
  }

  uint32_t completion_queue_depth() const override { return static_cast<uint32_t>(cq_->cqe); }

  int Poll(VerbsCompletion* out, int max, std::chrono::milliseconds timeout) override {
    int n = Drain(out, max);
    if (n != 0) return std::max(n, 0);
    if (ibv_req_notify_cq(cq_, 0) != 0) {  // cannot sleep on the channel: just wait
      poll(nullptr, 0, static_cast<int>(timeout.count()));
      return std::max(Drain(out, max), 0);
    }
    n = Drain(out, max);  // a completion may have slipped in before the notify was armed
    if (n != 0) return std::max(n, 0);
    pollfd pfd{channel_->fd, POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(timeout.count())) <= 0) return 0;
    ibv_cq* cq = nullptr;
    void* context = nullptr;
    if (ibv_get_cq_event(channel_, &cq, &context) == 0) ibv_ack_cq_events(cq, 1);
    return std::max(Drain(out, max), 0);
  }

 private:
  static constexpr int kCqDepth = 1 << 16;
  explicit IbvDevice(std::string name) : name_(std::move(name)) {}

  Status QueryPort() {
    port_.port = static_cast<uint8_t>(EnvInt("KVC_VERBS_PORT", 1));
    if (ibv_query_port(context_, port_.port, &port_.attr) != 0) {
      return Errno(absl::StrCat("ibv_query_port ", name_, " port ", port_.port), errno);
    }
    port_.gid_index =
        EnvInt("KVC_VERBS_GID_INDEX", ChooseGidIndex(context_, port_.port, port_.attr));
    if (port_.attr.state != IBV_PORT_ACTIVE) {
      return absl::UnavailableError(absl::StrCat("RDMA device ", name_, " port ", port_.port,
                                                 " is not active (state ", port_.attr.state, ")"));
    }
    if (ibv_query_gid(context_, port_.port, port_.gid_index, &port_.gid) != 0) {
      return Errno(absl::StrCat("ibv_query_gid ", name_, " index ", port_.gid_index), errno);
    }
    ibv_device_attr attr{};
    if (ibv_query_device(context_, &attr) == 0) {
      port_.max_rd_atomic = static_cast<uint8_t>(std::clamp(attr.max_qp_init_rd_atom, 1, 16));
      port_.max_dest_rd_atomic = static_cast<uint8_t>(std::clamp(attr.max_qp_rd_atom, 1, 16));
    }
    return absl::OkStatus();
  }

  // Up to `max` completions already in the CQ; -1 on error.
  int Drain(VerbsCompletion* out, int max) {
    ibv_wc wc[64];
    const int n = ibv_poll_cq(cq_, std::min(max, 64), wc);
    for (int i = 0; i < n; ++i) {
      out[i].id = wc[i].wr_id;
      out[i].code = CodeOf(wc[i].status);
      out[i].detail = ibv_wc_status_str(wc[i].status);
    }
    return n;
  }

  const std::string name_;
  ibv_context* context_ = nullptr;
  ibv_pd* pd_ = nullptr;
  ibv_comp_channel* channel_ = nullptr;
  ibv_cq* cq_ = nullptr;
  PortInfo port_;
  std::mutex mu_;
  std::map<uint64_t, ibv_mr*> mrs_;  // guarded by mu_
};

class IbvProvider final : public VerbsProvider {
 public:
  StatusOr<std::vector<std::string>> List() override {
    int count = 0;
    ibv_device** devices = ibv_get_device_list(&count);
    std::vector<std::string> names;
    for (int i = 0; devices != nullptr && i < count; ++i) {
      names.push_back(ibv_get_device_name(devices[i]));
    }
    if (devices != nullptr) ibv_free_device_list(devices);
    if (names.empty()) {
      return absl::UnavailableError(
          "verbs backend: no RDMA device found (ibv_get_device_list returned none); "
          "use backend tcp or shm");
    }
    return names;
  }

  StatusOr<std::unique_ptr<VerbsDevice>> Open(const std::string& name) override {
    int count = 0;
    ibv_device** devices = ibv_get_device_list(&count);
    StatusOr<std::unique_ptr<VerbsDevice>> result =
        absl::NotFoundError(absl::StrCat("verbs backend: no RDMA device named ", name));
    for (int i = 0; devices != nullptr && i < count; ++i) {
      if (name == ibv_get_device_name(devices[i])) result = IbvDevice::Open(devices[i]);
    }
    if (devices != nullptr) ibv_free_device_list(devices);
    return result;
  }
};

}  // namespace

std::unique_ptr<VerbsProvider> MakeIbvProvider() { return std::make_unique<IbvProvider>(); }

#else  // !KVC_HAVE_VERBS

namespace {
class NoVerbsProvider final : public VerbsProvider {
 public:
  StatusOr<std::vector<std::string>> List() override {
    return absl::UnavailableError(
        "verbs backend: this build has no libibverbs (KVC_HAVE_VERBS is off)");
  }
  StatusOr<std::unique_ptr<VerbsDevice>> Open(const std::string& name) override {
    return List().status();
  }
};
}  // namespace

std::unique_ptr<VerbsProvider> MakeIbvProvider() { return std::make_unique<NoVerbsProvider>(); }

#endif

}  // namespace kvc::transfer::internal

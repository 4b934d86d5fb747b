#include "transfer/ucx_backend.h"

#include <atomic>
#include <mutex>
#include <vector>

#include "absl/strings/str_cat.h"

namespace kvc::transfer {
namespace {

using internal::PeerChannel;
using internal::Slice;
using internal::UcxContext;

Status FromUcs(ucs_status_t st, const std::string& what) {
  return absl::UnavailableError(absl::StrCat(what, ": ", ucs_status_string(st)));
}

// One slice in flight: for a write, the put's status, then the flush completes it.
class UcxChannel;
struct Op {
  Slice* slice;
  UcxChannel* channel;
  ucs_status_t put_status = UCS_OK;
};

class UcxChannel final : public PeerChannel {
 public:
  UcxChannel(std::shared_ptr<UcxContext> ucx, std::string name)
      : ucx_(std::move(ucx)), name_(std::move(name)) {}

  ~UcxChannel() override {
    closing_ = true;
    if (ep_ == nullptr) return;
    // Ops still in flight complete (with errors) when the endpoint closes.
    ucp_request_param_t param{};
    param.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
    param.flags = UCP_EP_CLOSE_FLAG_FORCE;
    void* request = ucp_ep_close_nbx(ep_, &param);
    if (UCS_PTR_IS_PTR(request)) {
      while (ucp_request_check_status(request) == UCS_INPROGRESS)
        ucp_worker_progress(ucx_->worker());
      ucp_request_free(request);
    }
    while (in_flight_ > 0) ucp_worker_progress(ucx_->worker());
    for (auto& [region, rkey] : rkeys_) ucp_rkey_destroy(rkey);
  }

  Status Connect(const SegmentDescriptor& remote) {
    const std::string address = internal::FromHex(remote.ucx_worker_address);
    if (address.empty()) {
      return absl::UnavailableError(
          absl::StrCat("segment ", remote.name, " publishes no UCX worker"));
    }
    ucp_ep_params_t params{};
    params.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE |
                        UCP_EP_PARAM_FIELD_ERR_HANDLER;
    params.address = reinterpret_cast<const ucp_address_t*>(address.data());
    params.err_mode = UCP_ERR_HANDLING_MODE_PEER;
    params.err_handler.cb = [](void* arg, ucp_ep_h, ucs_status_t) {
      static_cast<UcxChannel*>(arg)->failed_ = true;
    };
    params.err_handler.arg = this;
    ucs_status_t st = ucp_ep_create(ucx_->worker(), &params, &ep_);
    if (st != UCS_OK) {
      // Shared-memory transports cannot report peer failures; use them without
      // (a dead peer is then noticed only by transports that fail their ops).
      params.field_mask &= ~(UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE | UCP_EP_PARAM_FIELD_ERR_HANDLER);
      st = ucp_ep_create(ucx_->worker(), &params, &ep_);
    }
    if (st != UCS_OK) return FromUcs(st, "UCX endpoint to " + remote.name);
    for (const RegionDescriptor& region : remote.regions) {
      const std::string packed = internal::FromHex(region.ucx_rkey);
      if (packed.empty()) continue;
      ucp_rkey_h rkey = nullptr;
      st = ucp_ep_rkey_unpack(ep_, packed.data(), &rkey);
      if (st != UCS_OK) return FromUcs(st, "UCX rkey of " + remote.name);
      rkeys_.push_back({region, rkey});
    }
    return absl::OkStatus();
  }

  std::string backend() const override { return "ucx"; }

  void Submit(Slice* slice) override {
    ucp_rkey_h rkey = nullptr;
    for (auto& [region, key] : rkeys_) {
      if (region.Contains(slice->remote, slice->length)) rkey = key;
    }
    if (rkey == nullptr || closing_ || failed_) {
      slice->sink->OnSliceDone(
          slice, rkey == nullptr ? absl::OutOfRangeError("no UCX rkey covers the range")
                                 : absl::UnavailableError("UCX endpoint to " + name_ + " failed"));
      return;
    }
    auto* op = new Op{slice, this};
    ++in_flight_;
    ucp_request_param_t param{};
    param.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
    param.user_data = op;
    if (slice->op == TransferOp::kRead) {
      param.cb.send = [](void* request, ucs_status_t st, void* user) {
        Finish(static_cast<Op*>(user), st);
        ucp_request_free(request);
      };
      Track(op, ucp_get_nbx(ep_, slice->local, slice->length, slice->remote, rkey, &param));
      return;
    }
    param.cb.send = [](void* request, ucs_status_t st, void* user) {
      static_cast<Op*>(user)->put_status = st;
      ucp_request_free(request);
    };
    void* put = ucp_put_nbx(ep_, slice->local, slice->length, slice->remote, rkey, &param);
    if (UCS_PTR_IS_ERR(put)) op->put_status = UCS_PTR_STATUS(put);
    param.cb.send = [](void* request, ucs_status_t st, void* user) {
      Op* o = static_cast<Op*>(user);
      Finish(o, o->put_status != UCS_OK ? o->put_status : st);
      ucp_request_free(request);
    };
    Track(op, ucp_ep_flush_nbx(ep_, &param));
  }

 private:
  // Completes `op` now when `request` is not pending; otherwise its callback will.
  static void Track(Op* op, void* request) {
    if (request == nullptr) {
      Finish(op, op->put_status);
    } else if (UCS_PTR_IS_ERR(request)) {
      Finish(op, UCS_PTR_STATUS(request));
    }
  }

  static void Finish(Op* op, ucs_status_t st) {
    Slice* slice = op->slice;
    UcxChannel* channel = op->channel;
    delete op;
    slice->sink->OnSliceDone(slice, st == UCS_OK ? absl::OkStatus() : FromUcs(st, "UCX transfer"));
    --channel->in_flight_;
  }

  std::shared_ptr<UcxContext> ucx_;
  const std::string name_;
  ucp_ep_h ep_ = nullptr;
  std::vector<std::pair<RegionDescriptor, ucp_rkey_h>> rkeys_;  // constant after Connect
  std::atomic<bool> closing_{false};
  std::atomic<bool> failed_{false};
  std::atomic<int64_t> in_flight_{0};
};

class UcxBackend final : public internal::Backend {
 public:
  explicit UcxBackend(std::shared_ptr<UcxContext> ucx) : ucx_(std::move(ucx)) {}
  std::string name() const override { return "ucx"; }
  StatusOr<std::unique_ptr<PeerChannel>> Open(const SegmentDescriptor& remote) override {
    if (!ucx_) {
      return absl::UnavailableError("UCX is not enabled in this engine (set transfer.ucx_enable)");
    }
    auto channel = std::make_unique<UcxChannel>(ucx_, remote.name);
    KVC_RETURN_IF_ERROR(channel->Connect(remote));
    return std::unique_ptr<PeerChannel>(std::move(channel));
  }

 private:
  std::shared_ptr<UcxContext> ucx_;
};

}  // namespace

std::unique_ptr<internal::Backend> MakeUcxBackend(std::shared_ptr<UcxContext> ucx) {
  return std::make_unique<UcxBackend>(std::move(ucx));
}

}  // namespace kvc::transfer

#include "transfer/verbs_backend.h"

#include "absl/strings/str_cat.h"
#include "transfer/internal/verbs_context.h"
#include "transfer/internal/verbs_device.h"
#include "transfer/internal/verbs_peer.h"

namespace kvc::transfer {

Status ProbeVerbsDevices() {
  internal::VerbsProvider& provider = internal::EngineVerbsProvider();
  KVC_ASSIGN_OR_RETURN(std::vector<std::string> names, provider.List());
  std::string errors;
  for (const std::string& name : names) {
    StatusOr<std::unique_ptr<internal::VerbsDevice>> device = provider.Open(name);
    if (device.ok()) return absl::OkStatus();
    absl::StrAppend(&errors, errors.empty() ? "" : "; ", device.status().message());
  }
  return absl::UnavailableError(
      absl::StrCat("verbs backend: no RDMA device can be opened (", errors, ")"));
}

namespace {

using internal::PeerChannel;
using internal::VerbsPeer;

class VerbsChannel final : public PeerChannel {
 public:
  explicit VerbsChannel(std::shared_ptr<VerbsPeer> peer) : peer_(std::move(peer)) {}
  ~VerbsChannel() override { peer_->Close(); }
  void Submit(internal::Slice* slice) override { peer_->Submit(slice); }
  std::string backend() const override { return "verbs"; }

 private:
  const std::shared_ptr<VerbsPeer> peer_;
};

class VerbsBackend final : public internal::Backend {
 public:
  VerbsBackend(std::shared_ptr<internal::VerbsContext> context, VerbsBackendOptions options,
               Status unavailable)
      : context_(std::move(context)),
        options_(std::move(options)),
        unavailable_(std::move(unavailable)) {}

  std::string name() const override { return "verbs"; }

  StatusOr<std::unique_ptr<PeerChannel>> Open(const SegmentDescriptor& remote) override {
    if (!context_) {
      Status why =
          unavailable_.ok() ? absl::UnavailableError("verbs backend is off") : unavailable_;
      return Status(why.code(), absl::StrCat("cannot reach ", remote.name, ": ", why.message()));
    }
    internal::VerbsPeerOptions peer;
    peer.cluster_token = options_.cluster_token;
    peer.timeout = options_.timeout;
    peer.path_down = options_.path_down;
    peer.qps_per_path = options_.qps_per_path;
    peer.local_topology = options_.local_topology;
    KVC_ASSIGN_OR_RETURN(std::shared_ptr<VerbsPeer> p, VerbsPeer::Create(context_, peer, remote));
    return std::unique_ptr<PeerChannel>(new VerbsChannel(std::move(p)));
  }

 private:
  const std::shared_ptr<internal::VerbsContext> context_;
  const VerbsBackendOptions options_;
  const Status unavailable_;
};

}  // namespace

std::unique_ptr<internal::Backend> MakeVerbsBackend(std::shared_ptr<internal::VerbsContext> context,
                                                    VerbsBackendOptions options,
                                                    Status unavailable) {
  return std::make_unique<VerbsBackend>(std::move(context), std::move(options),
                                        std::move(unavailable));
}

}  // namespace kvc::transfer

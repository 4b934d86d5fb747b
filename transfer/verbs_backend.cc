#include "transfer/verbs_backend.h"

#include "absl/strings/str_cat.h"

#ifdef KVC_HAVE_VERBS
#include <infiniband/verbs.h>
#endif

namespace kvc::transfer {

Status ProbeVerbsDevices() {
#ifdef KVC_HAVE_VERBS
  int count = 0;
  ibv_device** devices = ibv_get_device_list(&count);
  if (devices == nullptr || count == 0) {
    if (devices != nullptr) ibv_free_device_list(devices);
    return absl::UnavailableError(
        "verbs backend: no RDMA device found (ibv_get_device_list returned none); "
        "use backend tcp or shm");
  }
  ibv_context* context = ibv_open_device(devices[0]);
  const std::string name = ibv_get_device_name(devices[0]);
  ibv_free_device_list(devices);
  if (context == nullptr) {
    return absl::UnavailableError(absl::StrCat("verbs backend: cannot open RDMA device ", name));
  }
  ibv_close_device(context);
  return absl::UnavailableError(absl::StrCat("verbs backend: RDMA device ", name,
                                             " found, but the verbs data path is not built yet"));
#else
  return absl::UnavailableError(
      "verbs backend: this build has no libibverbs (KVC_HAVE_VERBS is off)");
#endif
}

namespace {

class VerbsBackend final : public internal::Backend {
 public:
  std::string name() const override { return "verbs"; }
  StatusOr<std::unique_ptr<internal::PeerChannel>> Open(const SegmentDescriptor& remote) override {
    Status probe = ProbeVerbsDevices();
    if (probe.ok()) probe = absl::UnimplementedError("verbs data path is not built yet");
    return Status(probe.code(), absl::StrCat("cannot reach ", remote.name, ": ", probe.message()));
  }
};

}  // namespace

std::unique_ptr<internal::Backend> MakeVerbsBackend() { return std::make_unique<VerbsBackend>(); }

}  // namespace kvc::transfer

// The RDMA verbs backend (RC queue pairs, RDMA READ/WRITE). Built against
// libibverbs when cmake found it (KVC_HAVE_VERBS). The data path is NOT written
// yet: today the backend probes for devices and reports UNAVAILABLE with the
// reason ("no RDMA device", or "built without libibverbs"), which is also what a
// machine without a NIC (like the development machine) must see. Thread-safe.
#pragma once

#include <memory>

#include "kvc/common/status.h"
#include "transfer/internal/channel.h"

namespace kvc::transfer {

// OK when at least one RDMA device can be opened; UNAVAILABLE with the reason otherwise.
[[nodiscard]] Status ProbeVerbsDevices();

std::unique_ptr<internal::Backend> MakeVerbsBackend();

}  // namespace kvc::transfer

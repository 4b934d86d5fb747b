// Whether this machine can run the RDMA verbs backend (transfer backend "verbs").
#pragma once

#include "kvc/common/status.h"

namespace kvc::transfer {

// OK when at least one RDMA device can be opened (through the provider engines
// use); UNAVAILABLE with the reason otherwise (no device, or a build without
// libibverbs). Thread-safe; opens and closes the devices on each call.
[[nodiscard]] Status ProbeVerbsDevices();

}  // namespace kvc::transfer

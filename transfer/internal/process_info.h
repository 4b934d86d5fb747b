// Facts about processes on this host used by the intra-host path: the boot id
// (two processes are on the same host iff their boot ids match) and a process's
// start time (guards against a reused pid). Thread-safe.
#pragma once

#include <cstdint>
#include <string>

namespace kvc::transfer::internal {

// Contents of /proc/sys/kernel/random/boot_id without the newline; "" if unreadable.
std::string BootId();
// Field 22 (starttime, clock ticks since boot) of /proc/<pid>/stat; 0 when the
// process does not exist or the file cannot be parsed.
uint64_t ProcessStartTime(int64_t pid);

}  // namespace kvc::transfer::internal

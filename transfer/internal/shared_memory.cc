#include "transfer/internal/shared_memory.h"

#include <fcntl.h>
#include <linux/memfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace kvc::transfer::internal {
namespace {

constexpr uint64_t kHugePage = 2 << 20;
constexpr uint64_t kMaxBytes = uint64_t{1} << 46;

struct Mapped {
  int fd = -1;
  void* addr = MAP_FAILED;
  uint64_t bytes = 0;
};

// One sealed memfd of `bytes` mapped shared; fd -1 on failure (errno set).
Mapped MapNew(uint64_t bytes, unsigned extra_flags) {
  Mapped m;
  m.fd = memfd_create("kvc-transfer", MFD_CLOEXEC | MFD_ALLOW_SEALING | extra_flags);
  if (m.fd < 0) return m;
  if (ftruncate(m.fd, static_cast<off_t>(bytes)) == 0 &&
      fcntl(m.fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) == 0) {
    m.addr = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, m.fd, 0);
  }
  if (m.addr == MAP_FAILED) {
    const int err = errno;
    close(m.fd);
    m.fd = -1;
    errno = err;
    return m;
  }
  m.bytes = bytes;
  return m;
}

}  // namespace

SharedMemoryPool::~SharedMemoryPool() {
  for (auto& [address, a] : allocations_) {
    munmap(reinterpret_cast<void*>(address), a.mapped);
    close(a.fd);
  }
}

StatusOr<void*> SharedMemoryPool::Allocate(uint64_t length) {
  if (length == 0 || length > kMaxBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("shared memory length ", length, " is outside 1..2^46"));
  }
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  Mapped m;
  if (length >= kHugePage) {
    m = MapNew((length + kHugePage - 1) / kHugePage * kHugePage, MFD_HUGETLB | MFD_HUGE_2MB);
  }
  if (m.fd < 0) m = MapNew((length + page - 1) / page * page, 0);
  if (m.fd < 0) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "cannot allocate ", length, " bytes of shared memory: ", std::strerror(errno)));
  }
  std::lock_guard lock(mu_);
  allocations_[reinterpret_cast<uint64_t>(m.addr)] = Allocation{m.fd, length, m.bytes};
  return m.addr;
}

Status SharedMemoryPool::Free(void* addr) {
  Allocation a;
  {
    std::lock_guard lock(mu_);
    auto it = allocations_.find(reinterpret_cast<uint64_t>(addr));
    if (it == allocations_.end()) {
      return absl::NotFoundError(absl::StrFormat("no shared memory allocation starts at %p", addr));
    }
    a = it->second;
    allocations_.erase(it);
  }
  munmap(addr, a.mapped);
  close(a.fd);
  return absl::OkStatus();
}

SharedMemoryPool::Exportable SharedMemoryPool::FindExact(uint64_t address, uint64_t length) const {
  std::lock_guard lock(mu_);
  auto it = allocations_.find(address);
  if (it == allocations_.end()) return {};
  if (length != it->second.requested && length != it->second.mapped) return {};
  return {it->second.fd, it->second.mapped};
}

std::pair<uint64_t, uint64_t> SharedMemoryPool::Find(uint64_t addr) const {
  std::lock_guard lock(mu_);
  auto it = allocations_.find(addr);
  if (it == allocations_.end()) return {0, 0};
  return {it->first, it->second.mapped};
}

}  // namespace kvc::transfer::internal

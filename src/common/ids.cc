#include "kvc/common/ids.h"

#include <unistd.h>

#include <atomic>
#include <random>

#include "absl/strings/str_format.h"

namespace kvc {
namespace {

uint64_t ProcessSeed() {
  static const uint64_t seed = [] {
    std::random_device rd;
    return (static_cast<uint64_t>(rd()) << 32) ^ rd() ^ static_cast<uint64_t>(getpid());
  }();
  return seed;
}

// splitmix64: a bijective mixer, so distinct counters give distinct ids.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

std::string NewRequestId() {
  static std::atomic<uint64_t> counter{0};
  return absl::StrFormat("req-%016x", Mix(ProcessSeed() + counter.fetch_add(1)));
}

std::string NewNodeId(std::string_view role) {
  static std::atomic<uint64_t> counter{1ULL << 40};
  const uint32_t suffix = static_cast<uint32_t>(Mix(ProcessSeed() ^ counter.fetch_add(1)));
  return absl::StrFormat("%s-%s-%08x", role, HostName(), suffix);
}

std::string HostName() {
  char buf[256] = {};
  if (gethostname(buf, sizeof(buf) - 1) != 0 || buf[0] == '\0') return "localhost";
  return buf;
}

}  // namespace kvc

#include "transfer/internal/region_table.h"

#include "absl/strings/str_format.h"

namespace kvc::transfer::internal {

Status RegionTable::Add(uint64_t address, uint64_t length, const std::string& location,
                        bool remote_accessible) {
  if (address == 0 || length == 0) {
    return absl::InvalidArgumentError("cannot register a null address or an empty region");
  }
  if (address + length < address) {
    return absl::InvalidArgumentError("region wraps around the address space");
  }
  KVC_RETURN_IF_ERROR(ValidateLocation(location));
  std::lock_guard lock(mu_);
  auto next = regions_.lower_bound(address);
  if (next != regions_.end() && next->first < address + length) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "region [0x%x, +%d) overlaps the registered region at 0x%x", address, length, next->first));
  }
  if (next != regions_.begin()) {
    auto prev = std::prev(next);
    if (prev->first + prev->second.length > address) {
      return absl::InvalidArgumentError(
          absl::StrFormat("region [0x%x, +%d) overlaps the registered region at 0x%x", address,
                          length, prev->first));
    }
  }
  regions_[address] = Region{length, location, remote_accessible, false, 0};
  return absl::OkStatus();
}

Status RegionTable::Remove(uint64_t address, std::chrono::milliseconds wait) {
  return Remove(address, wait, nullptr);
}

Status RegionTable::Remove(uint64_t address, std::chrono::milliseconds wait, RemovalHooks* hooks) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  {
    std::lock_guard lock(mu_);
    auto it = regions_.find(address);
    if (it == regions_.end() || it->second.closing) {
      return absl::NotFoundError(absl::StrFormat("no registered region starts at 0x%x", address));
    }
    it->second.closing = true;  // only this call may now erase it or reopen it
  }
  if (hooks != nullptr) hooks->Closing(address);
  Status drained;
  {
    std::unique_lock lock(mu_);
    Region& region = regions_.at(address);
    if (!unpinned_.wait_until(lock, deadline, [&] { return region.pins == 0; })) {
      drained = absl::DeadlineExceededError(absl::StrFormat(
          "region 0x%x still has %d transfers in flight after %d ms; it stays registered", address,
          region.pins, wait.count()));
    }
  }
  if (drained.ok() && hooks != nullptr) drained = hooks->Drain(address, deadline);
  {
    std::lock_guard lock(mu_);
    if (drained.ok()) {
      regions_.erase(address);
    } else {
      regions_.at(address).closing = false;
    }
  }
  if (hooks != nullptr) hooks->Closed(address, drained.ok());
  return drained;
}

std::map<uint64_t, RegionTable::Region>::iterator RegionTable::Find(uint64_t address,
                                                                    uint64_t length) {
  auto it = regions_.upper_bound(address);
  if (it == regions_.begin()) return regions_.end();
  --it;
  const uint64_t start = it->first;
  const uint64_t end = start + it->second.length;
  if (address < start || length > end - start || address - start > end - start - length) {
    return regions_.end();
  }
  return it;
}

StatusOr<uint64_t> RegionTable::Pin(uint64_t address, uint64_t length, bool remote) {
  std::lock_guard lock(mu_);
  auto it = Find(address, length);
  if (it == regions_.end() || it->second.closing || (remote && !it->second.remote_accessible)) {
    return absl::OutOfRangeError(absl::StrFormat("[0x%x, +%d) is not inside a registered%s region",
                                                 address, length,
                                                 remote ? " remote-accessible" : ""));
  }
  ++it->second.pins;
  return it->first;
}

void RegionTable::Unpin(uint64_t key) {
  std::lock_guard lock(mu_);
  auto it = regions_.find(key);
  if (it == regions_.end()) return;
  if (--it->second.pins == 0 && it->second.closing) unpinned_.notify_all();
}

StatusOr<std::pair<uint64_t, uint64_t>> RegionTable::FindRemote(uint64_t address, uint64_t length) {
  std::lock_guard lock(mu_);
  auto it = Find(address, length);
  if (it == regions_.end() || it->second.closing || !it->second.remote_accessible) {
    return absl::OutOfRangeError(absl::StrFormat(
        "[0x%x, +%d) is not inside a registered remote-accessible region", address, length));
  }
  return std::make_pair(it->first, it->second.length);
}

bool RegionTable::Overlaps(uint64_t address, uint64_t length) const {
  std::lock_guard lock(mu_);
  auto it = regions_.lower_bound(address);
  if (it != regions_.end() && it->first < address + length) return true;
  if (it == regions_.begin()) return false;
  --it;
  return it->first + it->second.length > address;
}

std::vector<RegionDescriptor> RegionTable::RemoteRegions() const {
  std::lock_guard lock(mu_);
  std::vector<RegionDescriptor> out;
  for (const auto& [address, region] : regions_) {
    if (region.remote_accessible && !region.closing) {
      out.push_back({address, region.length, region.location, ""});
    }
  }
  return out;
}

std::string RegionTable::LocationOf(uint64_t address) const {
  std::lock_guard lock(mu_);
  auto it = regions_.upper_bound(address);
  if (it == regions_.begin()) return "";
  --it;
  return address - it->first < it->second.length ? it->second.location : "";
}

}  // namespace kvc::transfer::internal

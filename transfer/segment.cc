#include "kvc/transfer/segment.h"

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "kvc/common/json.h"

namespace kvc::transfer {

bool RegionDescriptor::Contains(uint64_t addr, uint64_t len) const {
  return addr >= address && len <= length && addr - address <= length - len;
}

const RegionDescriptor* SegmentDescriptor::FindRegion(uint64_t addr, uint64_t len) const {
  for (const RegionDescriptor& region : regions) {
    if (region.Contains(addr, len)) return &region;
  }
  return nullptr;
}

Status ValidateLocation(const std::string& location) {
  std::string_view rest;
  if (absl::StartsWith(location, "cpu:")) {
    rest = std::string_view(location).substr(4);
  } else if (absl::StartsWith(location, "cuda:")) {
    rest = std::string_view(location).substr(5);
  }
  uint32_t index = 0;
  if (rest.empty() || rest.find_first_not_of("0123456789") != std::string_view::npos ||
      !absl::SimpleAtoi(absl::string_view(rest.data(), rest.size()), &index)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "location '", location, "' is not 'cpu:N' or 'cuda:N' (N = NUMA node or GPU index)"));
  }
  return absl::OkStatus();
}

std::string EncodeSegmentDescriptor(const SegmentDescriptor& d) {
  nlohmann::json regions = nlohmann::json::array();
  for (const RegionDescriptor& r : d.regions) {
    nlohmann::json region = {
        {"address", r.address}, {"length", r.length}, {"location", r.location}};
    if (!r.ucx_rkey.empty()) region["ucx_rkey"] = r.ucx_rkey;
    if (!r.verbs_rkeys.empty()) region["verbs_rkeys"] = r.verbs_rkeys;
    regions.push_back(std::move(region));
  }
  nlohmann::json j = {{"version", 1},
                      {"name", d.name},
                      {"hostname", d.hostname},
                      {"boot_id", d.boot_id},
                      {"host_id", d.host_id},
                      {"pid", d.pid},
                      {"pid_start_time", d.pid_start_time},
                      {"tcp_endpoints", d.tcp_endpoints},
                      {"regions", regions},
                      {"ucx_worker_address", d.ucx_worker_address},
                      {"topology", d.topology_json}};
  if (!d.shm_socket.empty()) j["shm_socket"] = d.shm_socket;
  if (!d.verbs_nics.empty()) j["verbs_nics"] = d.verbs_nics;
  return kvc::DumpJson(j);
}

namespace {

template <typename T>
Status Read(const nlohmann::json& j, const char* key, T* out) {
  auto it = j.find(key);
  if (it == j.end()) {
    return absl::InvalidArgumentError(absl::StrCat("segment descriptor lacks field '", key, "'"));
  }
  try {
    *out = it->get<T>();
  } catch (const nlohmann::json::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat("segment descriptor field '", key, "' has the wrong type: ", e.what()));
  }
  return absl::OkStatus();
}

// "verbs_rkeys": {"mlx5_0": 4660, ...}: NIC names → 32-bit unsigned rkeys.
Status ReadRkeys(const nlohmann::json& r, std::map<std::string, uint32_t>* out) {
  const nlohmann::json& keys = r.at("verbs_rkeys");
  if (!keys.is_object()) {
    return absl::InvalidArgumentError("segment descriptor field 'verbs_rkeys' is not an object");
  }
  for (const auto& [nic, key] : keys.items()) {
    if (nic.empty() || !key.is_number_unsigned() || key.get<uint64_t>() > 0xFFFFFFFFull) {
      return absl::InvalidArgumentError(absl::StrCat(
          "segment descriptor field 'verbs_rkeys' entry '", nic, "' is not a 32-bit rkey"));
    }
    (*out)[nic] = static_cast<uint32_t>(key.get<uint64_t>());
  }
  return absl::OkStatus();
}

Status ReadRegions(const nlohmann::json& j, std::vector<RegionDescriptor>* out) {
  auto it = j.find("regions");
  if (it == j.end() || !it->is_array()) {
    return absl::InvalidArgumentError("segment descriptor field 'regions' is not an array");
  }
  for (const nlohmann::json& r : *it) {
    if (!r.is_object()) return absl::InvalidArgumentError("a region is not an object");
    RegionDescriptor region;
    KVC_RETURN_IF_ERROR(Read(r, "address", &region.address));
    KVC_RETURN_IF_ERROR(Read(r, "length", &region.length));
    KVC_RETURN_IF_ERROR(Read(r, "location", &region.location));
    if (r.contains("ucx_rkey")) KVC_RETURN_IF_ERROR(Read(r, "ucx_rkey", &region.ucx_rkey));
    if (r.contains("verbs_rkeys")) KVC_RETURN_IF_ERROR(ReadRkeys(r, &region.verbs_rkeys));
    if (region.address + region.length < region.address) {
      return absl::InvalidArgumentError("a region wraps around the address space");
    }
    out->push_back(std::move(region));
  }
  return absl::OkStatus();
}

}  // namespace

StatusOr<SegmentDescriptor> DecodeSegmentDescriptor(const std::string& json) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("segment descriptor is not a JSON object");
  }
  int version = 0;
  KVC_RETURN_IF_ERROR(Read(j, "version", &version));
  if (version != 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("segment descriptor version ", version, " is not supported (want 1)"));
  }
  SegmentDescriptor d;
  KVC_RETURN_IF_ERROR(Read(j, "name", &d.name));
  KVC_RETURN_IF_ERROR(Read(j, "hostname", &d.hostname));
  KVC_RETURN_IF_ERROR(Read(j, "boot_id", &d.boot_id));
  // Descriptors of engines older than host ids: the boot id was the host identity.
  d.host_id = d.boot_id;
  if (j.contains("host_id")) KVC_RETURN_IF_ERROR(Read(j, "host_id", &d.host_id));
  KVC_RETURN_IF_ERROR(Read(j, "pid", &d.pid));
  KVC_RETURN_IF_ERROR(Read(j, "pid_start_time", &d.pid_start_time));
  KVC_RETURN_IF_ERROR(Read(j, "tcp_endpoints", &d.tcp_endpoints));
  KVC_RETURN_IF_ERROR(ReadRegions(j, &d.regions));
  KVC_RETURN_IF_ERROR(Read(j, "ucx_worker_address", &d.ucx_worker_address));
  KVC_RETURN_IF_ERROR(Read(j, "topology", &d.topology_json));
  if (j.contains("shm_socket")) KVC_RETURN_IF_ERROR(Read(j, "shm_socket", &d.shm_socket));
  if (j.contains("verbs_nics")) KVC_RETURN_IF_ERROR(Read(j, "verbs_nics", &d.verbs_nics));
  for (const std::string& nic : d.verbs_nics) {
    if (nic.empty()) return absl::InvalidArgumentError("segment descriptor has an empty verbs NIC");
  }
  if (d.name.empty()) return absl::InvalidArgumentError("segment descriptor has an empty name");
  return d;
}

}  // namespace kvc::transfer

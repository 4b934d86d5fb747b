#include "transfer/internal/topology.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "kvc/common/json.h"
#include "kvc/transfer/segment.h"

namespace kvc::transfer::internal {
namespace fs = std::filesystem;
namespace {

std::string ReadLine(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

int NumaNodeOf(const fs::path& device_dir) {
  try {
    return std::max(0, std::stoi(ReadLine(device_dir / "numa_node")));
  } catch (...) {
    return 0;
  }
}

std::vector<std::string> SortedEntries(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

// name → NUMA node of every NIC: RDMA devices when any exist, else physical netdevs.
std::map<std::string, int> DiscoverNics(const fs::path& sys) {
  std::map<std::string, int> nics;
  for (const std::string& dev : SortedEntries(sys / "class/infiniband")) {
    nics[dev] = NumaNodeOf(sys / "class/infiniband" / dev / "device");
  }
  if (!nics.empty()) return nics;
  for (const std::string& dev : SortedEntries(sys / "class/net")) {
    const fs::path device = sys / "class/net" / dev / "device";
    if (fs::exists(device)) nics[dev] = NumaNodeOf(device);  // virtual ones have no device
  }
  return nics;
}

// location → NUMA node for every CPU node and NVIDIA GPU (PCI class 0x0302xx/0x0300xx).
std::map<std::string, int> DiscoverLocations(const fs::path& sys) {
  std::map<std::string, int> locations;
  for (const std::string& node : SortedEntries(sys / "devices/system/node")) {
    if (node.rfind("node", 0) == 0 && node.size() > 4 &&
        std::all_of(node.begin() + 4, node.end(), ::isdigit)) {
      locations["cpu:" + node.substr(4)] = std::stoi(node.substr(4));
    }
  }
  if (locations.empty()) locations["cpu:0"] = 0;
  int gpu = 0;
  for (const std::string& dev : SortedEntries(sys / "bus/pci/devices")) {
    const fs::path dir = sys / "bus/pci/devices" / dev;
    const std::string cls = ReadLine(dir / "class");
    if (ReadLine(dir / "vendor") == "0x10de" &&
        (cls.rfind("0x0302", 0) == 0 || cls.rfind("0x0300", 0) == 0)) {
      locations[absl::StrCat("cuda:", gpu++)] = NumaNodeOf(dir);
    }
  }
  return locations;
}

}  // namespace

Topology DiscoverTopology(const std::string& sys_root) {
  const fs::path sys(sys_root);
  const std::map<std::string, int> nics = DiscoverNics(sys);
  Topology topology;
  for (const auto& [location, node] : DiscoverLocations(sys)) {
    Topology::Choice& choice = topology.matrix[location];
    for (const auto& [nic, nic_node] : nics) {
      (nic_node == node ? choice.preferred : choice.secondary).push_back(nic);
    }
  }
  return topology;
}

std::string Topology::ToJson() const {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [location, choice] : matrix) {
    j[location] = {{"preferred", choice.preferred}, {"secondary", choice.secondary}};
  }
  return kvc::DumpJson(j);
}

StatusOr<Topology> Topology::FromJson(const std::string& json) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("topology_json: not a JSON object");
  }
  Topology topology;
  for (const auto& [location, value] : j.items()) {
    KVC_RETURN_IF_ERROR(ValidateLocation(location));
    Choice choice;
    try {
      choice.preferred = value.at("preferred").get<std::vector<std::string>>();
      choice.secondary = value.value("secondary", std::vector<std::string>{});
    } catch (const nlohmann::json::exception& e) {
      return absl::InvalidArgumentError(absl::StrCat(
          "topology_json: '", location, "' needs {\"preferred\": [NIC...], \"secondary\": [...]}"));
    }
    topology.matrix[location] = std::move(choice);
  }
  return topology;
}

std::vector<std::string> Topology::NicsFor(const std::string& location) const {
  auto it = matrix.find(location);
  if (it == matrix.end()) return {};
  std::vector<std::string> out = it->second.preferred;
  out.insert(out.end(), it->second.secondary.begin(), it->second.secondary.end());
  return out;
}

namespace {

// Appends `group` rotated left by `rotation`.
void AppendRotated(const std::vector<std::string>& group, uint64_t rotation,
                   std::vector<std::string>* out) {
  for (size_t i = 0; i < group.size(); ++i) out->push_back(group[(i + rotation) % group.size()]);
}

}  // namespace

std::vector<std::string> OrderNics(const Topology& topology, const std::string& location,
                                   const std::vector<std::string>& available, uint64_t rotation) {
  auto is_available = [&](const std::string& nic) {
    return std::find(available.begin(), available.end(), nic) != available.end();
  };
  std::vector<std::string> seen;
  auto keep = [&](const std::vector<std::string>& listed) {
    std::vector<std::string> group;
    for (const std::string& nic : listed) {
      if (is_available(nic) && std::find(seen.begin(), seen.end(), nic) == seen.end()) {
        group.push_back(nic);
        seen.push_back(nic);
      }
    }
    return group;
  };
  std::vector<std::string> preferred, secondary;
  auto it = topology.matrix.find(location);
  if (it != topology.matrix.end()) {
    preferred = keep(it->second.preferred);
    secondary = keep(it->second.secondary);
  }
  const std::vector<std::string> rest = keep(available);
  std::vector<std::string> out;
  AppendRotated(preferred, rotation, &out);
  AppendRotated(secondary, rotation, &out);
  AppendRotated(rest, rotation, &out);
  return out;
}

}  // namespace kvc::transfer::internal

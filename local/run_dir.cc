#include "local/run_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kvc/common/json.h"

namespace kvc::local {
namespace {

using nlohmann::json;

json ToJson(const ProcessRecord& p) {
  return {{"name", p.name}, {"binary", p.binary},      {"pid", p.pid}, {"start_time", p.start_time},
          {"log", p.log},   {"port_file", p.port_file}};
}

ProcessRecord FromJson(const json& j) {
  ProcessRecord p;
  p.name = j.value("name", "");
  p.binary = j.value("binary", "");
  p.pid = j.value("pid", 0);
  p.start_time = j.value("start_time", uint64_t{0});
  p.log = j.value("log", "");
  p.port_file = j.value("port_file", "");
  return p;
}

Status WritePrivate(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return absl::PermissionDeniedError("cannot write " + tmp);
  fchmod(fd, 0600);
  const bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError("cannot write " + path);
  }
  return Status();
}

}  // namespace

std::string DefaultRunDir() {
  if (const char* env = std::getenv("KVC_LOCAL_RUN_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
  return absl::StrCat("/tmp/kvc-local-", getuid());
}

Status EnsureRunDir(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return absl::PermissionDeniedError("run dir: cannot create " + dir + ": " + ec.message());
  std::filesystem::permissions(dir, std::filesystem::perms::owner_all, ec);
  return Status();
}

Status SaveState(const std::string& dir, const ClusterState& s) {
  json procs = json::array();
  for (const auto& p : s.processes) procs.push_back(ToJson(p));
  json j = {{"base_url", s.base_url},
            {"http_port", s.http_port},
            {"conductor_address", s.conductor_address},
            {"master_address", s.master_address},
            {"model_dir", s.model_dir},
            {"model_id", s.model_id},
            {"engine", s.engine},
            {"processes", procs}};
  return WritePrivate(dir + "/cluster.json", kvc::DumpJson(j, 2) + "\n");
}

StatusOr<ClusterState> LoadState(const std::string& dir) {
  std::ifstream in(dir + "/cluster.json");
  if (!in) return absl::NotFoundError("no cluster in " + dir + " (no cluster.json)");
  json j = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::DataLossError(dir + "/cluster.json is not valid JSON");
  }
  ClusterState s;
  s.base_url = j.value("base_url", "");
  s.http_port = j.value("http_port", 0);
  s.conductor_address = j.value("conductor_address", "");
  s.master_address = j.value("master_address", "");
  s.model_dir = j.value("model_dir", "");
  s.model_id = j.value("model_id", "");
  s.engine = j.value("engine", "");
  if (j.contains("processes") && j["processes"].is_array()) {
    for (const auto& p : j["processes"]) s.processes.push_back(FromJson(p));
  }
  return s;
}

StatusOr<std::string> LoadOrCreateToken(const std::string& dir, const std::string& name) {
  const std::string path = dir + "/" + name;
  std::ifstream in(path);
  std::string token;
  if (in && std::getline(in, token) && !token.empty()) return token;
  std::random_device rd;  // /dev/urandom
  for (int i = 0; i < 4; ++i) token += absl::StrFormat("%08x", rd());
  KVC_RETURN_IF_ERROR(WritePrivate(path, token + "\n"));
  return token;
}

}  // namespace kvc::local

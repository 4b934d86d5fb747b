// Maps safetensors files read-only and validates every header entry up front, so a
// truncated or corrupt checkpoint fails at load time with the tensor's name.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "kvc/engine/safetensors.h"

namespace kvc::engine {

struct SafetensorsModel::Mapping {
  void* addr = MAP_FAILED;
  size_t size = 0;
  ~Mapping() {
    if (addr != MAP_FAILED) munmap(addr, size);
  }
};

namespace {

using nlohmann::json;

StatusOr<DType> ParseDType(const std::string& s) {
  if (s == "F32") return DType::kF32;
  if (s == "BF16") return DType::kBF16;
  if (s == "F16") return DType::kF16;
  return absl::InvalidArgumentError("dtype " + s + " is not supported (F32, BF16, F16)");
}

// Validates one header entry and fills `info` (data pointer relative to `data`).
Status ParseEntry(const json& entry, const uint8_t* data, size_t data_size, TensorInfo* info) {
  if (!entry.is_object() || !entry.contains("dtype") || !entry.contains("shape") ||
      !entry.contains("data_offsets")) {
    return absl::InvalidArgumentError("header entry lacks dtype, shape or data_offsets");
  }
  KVC_ASSIGN_OR_RETURN(info->dtype, ParseDType(entry["dtype"].get<std::string>()));
  int64_t numel = 1;
  for (const auto& d : entry["shape"]) {
    const int64_t dim = d.get<int64_t>();
    if (dim < 0) return absl::InvalidArgumentError("negative dimension");
    info->shape.push_back(dim);
    if (__builtin_mul_overflow(numel, dim, &numel)) {  // found by tests/fuzz
      return absl::InvalidArgumentError("shape " + ShapeToString(info->shape) + " overflows");
    }
  }
  int64_t bytes = 0;
  if (__builtin_mul_overflow(numel, static_cast<int64_t>(DTypeSize(info->dtype)), &bytes)) {
    return absl::InvalidArgumentError("shape " + ShapeToString(info->shape) + " overflows");
  }
  const auto& offs = entry["data_offsets"];
  if (!offs.is_array() || offs.size() != 2) return absl::InvalidArgumentError("bad data_offsets");
  const uint64_t begin = offs[0].get<uint64_t>(), end = offs[1].get<uint64_t>();
  if (begin > end || end > data_size) {
    return absl::DataLossError("data_offsets [" + std::to_string(begin) + ", " +
                               std::to_string(end) + ") run past the end of the data (" +
                               std::to_string(data_size) + " bytes): file truncated?");
  }
  if (end - begin != static_cast<uint64_t>(bytes)) {
    return absl::DataLossError("data_offsets span " + std::to_string(end - begin) +
                               " bytes but shape " + ShapeToString(info->shape) + " of " +
                               DTypeName(info->dtype) + " needs " + std::to_string(bytes));
  }
  info->data = data + begin;
  info->num_bytes = end - begin;
  return absl::OkStatus();
}

StatusOr<std::string> ReadText(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError("cannot open " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

std::string ShapeToString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

SafetensorsModel::~SafetensorsModel() = default;

Status SafetensorsModel::AddFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError("cannot open " + path + ": " + std::strerror(errno));
  struct stat st {};
  auto map = std::make_unique<Mapping>();
  if (fstat(fd, &st) == 0 && st.st_size > 0) {
    map->size = static_cast<size_t>(st.st_size);
    map->addr = mmap(nullptr, map->size, PROT_READ, MAP_PRIVATE, fd, 0);
  }
  ::close(fd);
  if (map->addr == MAP_FAILED) return absl::DataLossError(path + ": empty or unreadable file");
  const auto* base = static_cast<const uint8_t*>(map->addr);
  uint64_t header_len = 0;
  if (map->size < 8) return absl::DataLossError(path + ": truncated (no header length)");
  std::memcpy(&header_len, base, 8);  // little-endian host assumed (x86-64, aarch64)
  if (header_len > map->size - 8) {
    return absl::DataLossError(path + ": header length " + std::to_string(header_len) +
                               " exceeds file size " + std::to_string(map->size) + ": truncated?");
  }
  json header = json::parse(base + 8, base + 8 + header_len, nullptr, false);
  if (header.is_discarded() || !header.is_object()) {
    return absl::DataLossError(path + ": header is not a JSON object");
  }
  const uint8_t* data = base + 8 + header_len;
  const size_t data_size = map->size - 8 - header_len;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    TensorInfo info;
    Status s;
    try {
      s = ParseEntry(entry, data, data_size, &info);
    } catch (const json::exception& e) {
      s = absl::InvalidArgumentError(std::string("malformed header entry: ") + e.what());
    }
    if (!s.ok())
      return absl::Status(s.code(), path + ": tensor " + name + ": " + std::string(s.message()));
    tensors_[name] = std::move(info);
  }
  mappings_.push_back(std::move(map));
  return absl::OkStatus();
}

StatusOr<std::unique_ptr<SafetensorsModel>> SafetensorsModel::OpenFile(const std::string& path) {
  std::unique_ptr<SafetensorsModel> model(new SafetensorsModel());
  KVC_RETURN_IF_ERROR(model->AddFile(path));
  return model;
}

StatusOr<std::unique_ptr<SafetensorsModel>> SafetensorsModel::Open(const std::string& dir) {
  const std::string index_path = dir + "/model.safetensors.index.json";
  if (::access(index_path.c_str(), R_OK) != 0) return OpenFile(dir + "/model.safetensors");
  KVC_ASSIGN_OR_RETURN(std::string text, ReadText(index_path));
  json index = json::parse(text, nullptr, false);
  if (index.is_discarded() || !index.contains("weight_map") || !index["weight_map"].is_object()) {
    return absl::DataLossError(index_path + ": no weight_map object");
  }
  std::set<std::string> files;
  for (const auto& [name, file] : index["weight_map"].items()) {
    if (!file.is_string())
      return absl::DataLossError(index_path + ": weight_map[" + name + "] is not a file name");
    files.insert(file.get<std::string>());
  }
  std::unique_ptr<SafetensorsModel> model(new SafetensorsModel());
  for (const auto& f : files) KVC_RETURN_IF_ERROR(model->AddFile(dir + "/" + f));
  for (const auto& [name, file] : index["weight_map"].items()) {
    if (!model->Has(name)) {
      return absl::DataLossError(index_path + ": tensor " + name + " is listed in " +
                                 file.get<std::string>() + " but not found there");
    }
  }
  return model;
}

StatusOr<std::vector<float>> SafetensorsModel::LoadF32(const std::string& name,
                                                       const std::vector<int64_t>& shape) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) return absl::NotFoundError("missing tensor " + name);
  const TensorInfo& t = it->second;
  if (t.shape != shape) {
    return absl::InvalidArgumentError("tensor " + name + " has shape " + ShapeToString(t.shape) +
                                      ", expected " + ShapeToString(shape));
  }
  const size_t n = t.num_bytes / DTypeSize(t.dtype);
  std::vector<float> out(n);
  for (size_t i = 0; i < n; ++i) {
    if (t.dtype == DType::kF32) {
      std::memcpy(&out[i], t.data + 4 * i, 4);
    } else {
      uint16_t v;
      std::memcpy(&v, t.data + 2 * i, 2);
      out[i] = t.dtype == DType::kBF16 ? BF16ToFloat(v) : F16ToFloat(v);
    }
  }
  return out;
}

}  // namespace kvc::engine

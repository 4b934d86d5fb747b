// Writes safetensors files (single or sharded) for kvc-model init and for tests.
#include <cstdio>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "kvc/common/json.h"
#include "kvc/engine/safetensors.h"

namespace kvc::engine {
namespace {

using nlohmann::json;

std::string Encode(const TensorToWrite& t) {
  std::string bytes(t.values.size() * DTypeSize(t.dtype), '\0');
  for (size_t i = 0; i < t.values.size(); ++i) {
    if (t.dtype == DType::kF32) {
      std::memcpy(&bytes[4 * i], &t.values[i], 4);
    } else {
      const uint16_t v =
          t.dtype == DType::kBF16 ? FloatToBF16(t.values[i]) : FloatToF16(t.values[i]);
      std::memcpy(&bytes[2 * i], &v, 2);
    }
  }
  return bytes;
}

size_t EncodedSize(const TensorToWrite& t) { return t.values.size() * DTypeSize(t.dtype); }

}  // namespace

Status WriteSafetensors(const std::string& path, const std::vector<TensorToWrite>& tensors) {
  json header = json::object();
  header["__metadata__"] = {{"format", "pt"}};
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    int64_t numel = 1;
    for (int64_t d : t.shape) numel *= d;
    if (numel != static_cast<int64_t>(t.values.size())) {
      return absl::InvalidArgumentError("tensor " + t.name + ": shape " + ShapeToString(t.shape) +
                                        " does not match " + std::to_string(t.values.size()) +
                                        " values");
    }
    header[t.name] = {{"dtype", DTypeName(t.dtype)},
                      {"shape", t.shape},
                      {"data_offsets", {offset, offset + EncodedSize(t)}}};
    offset += EncodedSize(t);
  }
  std::string text = kvc::DumpJson(header);
  while (text.size() % 8 != 0) text.push_back(' ');  // keep tensor data 8-byte aligned
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return absl::PermissionDeniedError("cannot write " + tmp);
    const uint64_t len = text.size();
    out.write(reinterpret_cast<const char*>(&len), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    for (const auto& t : tensors) {
      const std::string bytes = Encode(t);
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }
    if (!out.flush()) return absl::ResourceExhaustedError("short write to " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError("cannot rename " + tmp + " to " + path);
  }
  return absl::OkStatus();
}

Status WriteShardedSafetensors(const std::string& dir, const std::vector<TensorToWrite>& tensors,
                               size_t max_shard_bytes) {
  std::vector<std::vector<TensorToWrite>> shards(1);
  size_t bytes = 0;
  for (const auto& t : tensors) {
    if (!shards.back().empty() && bytes + EncodedSize(t) > max_shard_bytes) {
      shards.emplace_back();
      bytes = 0;
    }
    shards.back().push_back(t);
    bytes += EncodedSize(t);
  }
  json weight_map = json::object();
  for (size_t i = 0; i < shards.size(); ++i) {
    char name[64];
    std::snprintf(name, sizeof(name), "model-%05zu-of-%05zu.safetensors", i + 1, shards.size());
    KVC_RETURN_IF_ERROR(WriteSafetensors(dir + "/" + name, shards[i]));
    for (const auto& t : shards[i]) weight_map[t.name] = name;
  }
  json index = {{"metadata", json::object()}, {"weight_map", weight_map}};
  std::ofstream out(dir + "/model.safetensors.index.json", std::ios::trunc);
  out << kvc::DumpJson(index, 2) << "\n";
  if (!out.flush()) return absl::ResourceExhaustedError("cannot write index in " + dir);
  return absl::OkStatus();
}

}  // namespace kvc::engine

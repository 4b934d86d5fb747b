// Reading and writing the safetensors format (Hugging Face): an 8-byte little-endian
// header length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}},
// then the tensor bytes. A model may be one file or shards listed in
// model.safetensors.index.json ({"weight_map": {name: file}}).
//
// Readers map the files read-only; a SafetensorsModel is immutable after Open and
// safe to read from several threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kvc/common/status.h"

namespace kvc::engine {

enum class DType { kF32, kBF16, kF16 };

// "F32", "BF16", "F16".
const char* DTypeName(DType dtype);
size_t DTypeSize(DType dtype);

// Scalar conversions (round to nearest even when narrowing).
float BF16ToFloat(uint16_t v);
uint16_t FloatToBF16(float f);
float F16ToFloat(uint16_t v);
uint16_t FloatToF16(float f);

struct TensorInfo {
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // into the mapped file; valid while the reader lives
  size_t num_bytes = 0;
};

// All tensors of a model directory (single file or sharded).
class SafetensorsModel {
 public:
  ~SafetensorsModel();
  SafetensorsModel(const SafetensorsModel&) = delete;
  SafetensorsModel& operator=(const SafetensorsModel&) = delete;

  // Opens DIR/model.safetensors, or the shards named by DIR/model.safetensors.index.json.
  // Fails (naming the file and, where it applies, the tensor) on a truncated file, a bad
  // header, an unknown dtype, or offsets that do not match the shape.
  [[nodiscard]] static StatusOr<std::unique_ptr<SafetensorsModel>> Open(const std::string& dir);
  // Opens one .safetensors file.
  [[nodiscard]] static StatusOr<std::unique_ptr<SafetensorsModel>> OpenFile(
      const std::string& path);

  bool Has(const std::string& name) const { return tensors_.count(name) > 0; }
  const std::map<std::string, TensorInfo>& tensors() const { return tensors_; }

  // Tensor `name` converted to f32. Fails when missing or when its shape is not `shape`
  // (the message names the tensor and both shapes).
  [[nodiscard]] StatusOr<std::vector<float>> LoadF32(const std::string& name,
                                                     const std::vector<int64_t>& shape) const;

 private:
  SafetensorsModel() = default;
  [[nodiscard]] Status AddFile(const std::string& path);

  struct Mapping;
  std::vector<std::unique_ptr<Mapping>> mappings_;
  std::map<std::string, TensorInfo> tensors_;
};

// One tensor to write: f32 values stored on disk as `dtype`.
struct TensorToWrite {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;
  DType dtype = DType::kF32;
};

// Writes one safetensors file (tensors in the given order).
[[nodiscard]] Status WriteSafetensors(const std::string& path,
                                      const std::vector<TensorToWrite>& tensors);

// Writes shards of at most `max_shard_bytes` as model-0000i-of-0000n.safetensors plus
// model.safetensors.index.json in `dir`.
[[nodiscard]] Status WriteShardedSafetensors(const std::string& dir,
                                             const std::vector<TensorToWrite>& tensors,
                                             size_t max_shard_bytes);

std::string ShapeToString(const std::vector<int64_t>& shape);

}  // namespace kvc::engine

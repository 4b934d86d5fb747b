#include "kvc/perfmodel/perf_model.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace kvc::perfmodel {
namespace {

// Paper Table 1: 8x A800 80GB SXM, 312 TFLOPS bf16, 128 GB/s host-to-device, 800 Gbps.
PerfSpec A800x8() {
  PerfSpec spec;
  spec.preset = "llama3-70b-a800x8";
  return spec;  // the struct defaults are this preset
}

// NVIDIA H800 SXM5 (H100 SXM compute with reduced NVLink): 989 TFLOPS dense bf16,
// 80 GB HBM3 at 3.35 TB/s. PCIe Gen5 doubles the paper's Gen4 host-to-device figure;
// the NIC is the common 8x400 Gbps H800 configuration (see docs/scheduling.md).
PerfSpec H800x8() {
  PerfSpec spec;
  spec.preset = "llama3-70b-h800x8";
  spec.node.name = "h800x8";
  spec.node.flops_per_gpu = 989e12;
  spec.node.hbm_bandwidth_per_gpu = 3.35e12;
  spec.node.host_to_device_bytes_per_s = 256e9;
  spec.node.nic_bytes_per_s = 400e9;
  return spec;
}

Status Positive(double value, const char* field) {
  if (value > 0 && std::isfinite(value)) return Status();
  return absl::InvalidArgumentError(absl::StrCat(field, " must be positive, got ", value));
}

}  // namespace

std::vector<std::string> PresetNames() { return {"llama3-70b-a800x8", "llama3-70b-h800x8"}; }

StatusOr<PerfSpec> PresetSpec(const std::string& name) {
  if (name == "llama3-70b-a800x8") return A800x8();
  if (name == "llama3-70b-h800x8") return H800x8();
  return absl::NotFoundError(absl::StrCat("unknown performance preset '", name,
                                          "'; known: ", absl::StrJoin(PresetNames(), ", ")));
}

Status ValidateSpec(const PerfSpec& spec) {
  const ModelSpec& m = spec.model;
  const NodeSpec& n = spec.node;
  KVC_RETURN_IF_ERROR(Positive(m.layers, "model.layers"));
  KVC_RETURN_IF_ERROR(Positive(m.hidden, "model.hidden"));
  KVC_RETURN_IF_ERROR(Positive(m.heads, "model.heads"));
  KVC_RETURN_IF_ERROR(Positive(m.kv_heads, "model.kv_heads"));
  KVC_RETURN_IF_ERROR(Positive(m.bytes_per_value, "model.bytes_per_value"));
  KVC_RETURN_IF_ERROR(Positive(m.parameters, "model.parameters"));
  KVC_RETURN_IF_ERROR(Positive(n.gpus, "node.gpus"));
  KVC_RETURN_IF_ERROR(Positive(n.flops_per_gpu, "node.flops_per_gpu"));
  KVC_RETURN_IF_ERROR(Positive(n.compute_efficiency, "node.compute_efficiency"));
  KVC_RETURN_IF_ERROR(Positive(n.hbm_bytes_per_gpu, "node.hbm_bytes_per_gpu"));
  KVC_RETURN_IF_ERROR(Positive(n.hbm_bandwidth_per_gpu, "node.hbm_bandwidth_per_gpu"));
  KVC_RETURN_IF_ERROR(Positive(n.memory_efficiency, "node.memory_efficiency"));
  KVC_RETURN_IF_ERROR(Positive(n.kv_memory_fraction, "node.kv_memory_fraction"));
  KVC_RETURN_IF_ERROR(Positive(n.host_to_device_bytes_per_s, "node.host_to_device_bytes_per_s"));
  KVC_RETURN_IF_ERROR(Positive(n.nic_bytes_per_s, "node.nic_bytes_per_s"));
  if (m.hidden % m.heads != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model.hidden (", m.hidden, ") must be a multiple of model.heads (", m.heads, ")"));
  }
  if (m.parameters * m.bytes_per_value >= n.gpus * n.hbm_bytes_per_gpu) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model weights (", m.parameters * m.bytes_per_value / 1e9, " GB) do not fit in the ",
        n.gpus * n.hbm_bytes_per_gpu / 1e9, " GB of HBM of node.gpus x node.hbm_bytes_per_gpu"));
  }
  return Status();
}

PerfModel::PerfModel(PerfSpec spec) : spec_(std::move(spec)) {}

double PerfModel::KvBytesPerToken() const {
  const ModelSpec& m = spec_.model;
  const double head_dim = static_cast<double>(m.hidden) / m.heads;
  return static_cast<double>(m.layers) * 2 * m.kv_heads * head_dim * m.bytes_per_value;
}

double PerfModel::WeightBytes() const {
  return spec_.model.parameters * spec_.model.bytes_per_value;
}

int64_t PerfModel::KvCapacityTokens() const {
  const NodeSpec& n = spec_.node;
  const double free_bytes = (n.gpus * n.hbm_bytes_per_gpu - WeightBytes()) * n.kv_memory_fraction;
  return static_cast<int64_t>(std::max(0.0, free_bytes) / KvBytesPerToken());
}

double PerfModel::PrefillFlops(int64_t input_tokens, int64_t prefix_tokens) const {
  const double n = static_cast<double>(std::max<int64_t>(input_tokens, 0));
  const double p = std::clamp(static_cast<double>(prefix_tokens), 0.0, n);
  const ModelSpec& m = spec_.model;
  const double d = static_cast<double>(m.hidden);
  return m.layers * (m.attention_coeff * (n * n - p * p) * d + m.linear_coeff * (n - p) * d * d);
}

double PerfModel::PrefillSeconds(int64_t input_tokens, int64_t prefix_tokens) const {
  const NodeSpec& n = spec_.node;
  return PrefillFlops(input_tokens, prefix_tokens) /
         (n.gpus * n.flops_per_gpu * n.compute_efficiency);
}

double PerfModel::DecodeStepSeconds(int64_t batch_size, int64_t context_tokens) const {
  if (batch_size <= 0) return 0;
  const NodeSpec& n = spec_.node;
  const double bytes = WeightBytes() + KvBytesPerToken() * std::max<int64_t>(context_tokens, 0);
  return bytes / (n.gpus * n.hbm_bandwidth_per_gpu * n.memory_efficiency);
}

double PerfModel::KvTransferSeconds(int64_t tokens, double bytes_per_s) const {
  if (tokens <= 0) return 0;
  return KvBytesPerToken() * tokens / bytes_per_s;
}

double PerfModel::NetworkSeconds(int64_t tokens) const {
  return KvTransferSeconds(tokens, spec_.node.nic_bytes_per_s);
}

double PerfModel::HostToDeviceSeconds(int64_t tokens) const {
  return KvTransferSeconds(tokens, spec_.node.host_to_device_bytes_per_s);
}

}  // namespace kvc::perfmodel

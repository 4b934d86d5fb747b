// Analytic cost model of one LLM serving node (8 GPUs running one model instance),
// after the Mooncake paper's dummy-model analysis (FAST'25, Table 1):
//
//   prefill FLOPs(n) = l * (a * n^2 * d + b * n * d^2),  a = 4, b = 22
//
// With a cached prefix of p tokens only the q = n - p new tokens are computed. Their
// linear layers cost l*b*q*d^2. Their attention still reads the whole cached prefix:
// token i attends to i earlier tokens, so the new tokens' attention is the full
// n-token attention minus the p-token prefix's own, l*a*(n^2 - p^2)*d. Hence
//
//   prefill FLOPs(n, p) = FLOPs(n) - FLOPs(p)
//                       = l * (a * (n^2 - p^2) * d + b * (n - p) * d^2)
//
// i.e. attention from new tokens over the cached prefix (the 2*p*q*a*d cross term) is
// paid in full; only the prefix's own self-attention and its linear layers are saved.
//
// Decode is memory-bound: one step reads every weight once plus the KV cache of every
// request in the batch, so step time = (weight bytes + batch KV bytes) / HBM bandwidth.
//
// Everything here is a pure function of the spec: thread-safe, no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "kvc/common/status.h"

namespace kvc::perfmodel {

// The model being served.
struct ModelSpec {
  std::string name = "llama3-70b";
  int64_t layers = 80;          // transformer layers (l)
  int64_t hidden = 8192;        // model width (d)
  int64_t heads = 64;           // query heads
  int64_t kv_heads = 8;         // GQA key/value heads
  int64_t bytes_per_value = 2;  // bf16 weights and KV
  double parameters = 70.6e9;   // weight count; weight bytes = parameters * bytes_per_value
  double attention_coeff = 4;   // a in the FLOPs formula
  double linear_coeff = 22;     // b in the FLOPs formula
};

// One serving node: `gpus` GPUs that together hold one model instance.
struct NodeSpec {
  std::string name = "a800x8";
  int64_t gpus = 8;
  double flops_per_gpu = 312e12;              // dense bf16 peak, FLOP/s
  double compute_efficiency = 0.5;            // achieved share of peak in prefill (MFU)
  double hbm_bytes_per_gpu = 80e9;            // HBM capacity per GPU
  double hbm_bandwidth_per_gpu = 2.039e12;    // HBM bytes/s per GPU
  double memory_efficiency = 0.8;             // achieved share of HBM bandwidth in decode
  double kv_memory_fraction = 0.9;            // share of HBM left after weights usable for KV
  double host_to_device_bytes_per_s = 128e9;  // node total, DRAM -> HBM
  double nic_bytes_per_s = 100e9;             // node total (800 Gbps)
};

struct PerfSpec {
  std::string preset;  // name it was built from, e.g. "llama3-70b-a800x8"
  ModelSpec model;
  NodeSpec node;
};

// Names accepted by PresetSpec, in a stable order.
std::vector<std::string> PresetNames();

// The spec of a named preset: "llama3-70b-a800x8" or "llama3-70b-h800x8".
// NotFound (listing the known names) for anything else.
[[nodiscard]] StatusOr<PerfSpec> PresetSpec(const std::string& name);

// InvalidArgument naming the field when a count or rate is not positive or the
// weights do not fit in the node's memory.
[[nodiscard]] Status ValidateSpec(const PerfSpec& spec);

class PerfModel {
 public:
  // REQUIRES: ValidateSpec(spec).ok().
  explicit PerfModel(PerfSpec spec);

  const PerfSpec& spec() const { return spec_; }

  // KV cache bytes of one token: layers * 2 (K and V) * kv_heads * head_dim * bytes.
  double KvBytesPerToken() const;
  double WeightBytes() const;
  // Tokens of KV that fit in the node's HBM after the weights.
  int64_t KvCapacityTokens() const;

  // FLOPs to prefill `input_tokens` when the first `prefix_tokens` are cached
  // (see the file comment). prefix_tokens is clamped to [0, input_tokens].
  double PrefillFlops(int64_t input_tokens, int64_t prefix_tokens) const;
  // Seconds of the whole node for that prefill.
  double PrefillSeconds(int64_t input_tokens, int64_t prefix_tokens) const;

  // Seconds of one decode step for `batch_size` requests whose KV caches hold
  // `context_tokens` tokens in total; 0 for an empty batch.
  double DecodeStepSeconds(int64_t batch_size, int64_t context_tokens) const;

  // Seconds to move the KV of `tokens` tokens over `bytes_per_s`.
  double KvTransferSeconds(int64_t tokens, double bytes_per_s) const;
  // Over the node's NIC, and from host DRAM into HBM.
  double NetworkSeconds(int64_t tokens) const;
  double HostToDeviceSeconds(int64_t tokens) const;

 private:
  PerfSpec spec_;
};

}  // namespace kvc::perfmodel

// Owning handles for device memory and the CUDA error -> Status conversion.
// Not thread-safe.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "kvc/common/status.h"

namespace kvc::engine::cuda {

inline Status CudaStatus(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return absl::OkStatus();
  const std::string msg = std::string(what) + ": " + cudaGetErrorString(e);
  return e == cudaErrorMemoryAllocation ? absl::ResourceExhaustedError(msg)
                                        : absl::InternalError(msg);
}

#define KVC_CUDA_RETURN_IF_ERROR(expr) \
  KVC_RETURN_IF_ERROR(::kvc::engine::cuda::CudaStatus((expr), #expr))

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  ~DeviceBuffer() { Reset(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept
      : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(o.bytes_) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    Reset();
    ptr_ = std::exchange(o.ptr_, nullptr);
    bytes_ = o.bytes_;
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  // Makes the buffer at least `bytes` large (contents are lost when it grows).
  [[nodiscard]] Status Reserve(size_t bytes) {
    if (bytes <= bytes_ && ptr_) return absl::OkStatus();
    Reset();
    KVC_CUDA_RETURN_IF_ERROR(cudaMalloc(&ptr_, bytes == 0 ? 1 : bytes));
    bytes_ = bytes;
    return absl::OkStatus();
  }
  // Allocates and copies `data` in (synchronously).
  template <typename T>
  [[nodiscard]] Status Upload(const std::vector<T>& data) {
    KVC_RETURN_IF_ERROR(Reserve(data.size() * sizeof(T)));
    return CudaStatus(
        cudaMemcpy(ptr_, data.data(), data.size() * sizeof(T), cudaMemcpyHostToDevice),
        "cudaMemcpy");
  }
  template <typename T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  size_t bytes() const { return bytes_; }

 private:
  void Reset() {
    if (ptr_) cudaFree(ptr_);
    ptr_ = nullptr;
    bytes_ = 0;
  }
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace kvc::engine::cuda

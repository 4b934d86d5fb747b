// NewCudaEngine when the project is built without nvcc.
#include "kvc/engine/cuda_engine.h"

namespace kvc::engine {

bool CudaCompiledIn() { return false; }
bool CudaDeviceAvailable() { return false; }

StatusOr<std::unique_ptr<Engine>> NewCudaEngine(std::shared_ptr<const ModelWeights>,
                                                const CudaEngineOptions&) {
  return absl::UnimplementedError(
      "the cuda backend is not compiled in (configure with nvcc present, KVC_CUDA=AUTO or ON)");
}

}  // namespace kvc::engine

#include "kvc/engine/backend.h"

#include "kvc/engine/cpu_engine.h"
#include "kvc/engine/model_weights.h"

namespace kvc::engine {

StatusOr<std::unique_ptr<Engine>> NewEngine(const std::string& model_dir, const EngineOptions& options) {
  if (options.backend == "cpu") {
    KVC_ASSIGN_OR_RETURN(std::shared_ptr<const ModelWeights> weights, LoadModelWeights(model_dir));
    return NewCpuEngine(std::move(weights),
                        CpuEngineOptions{options.num_blocks, options.block_tokens, options.threads});
  }
  return absl::InvalidArgumentError("unknown backend '" + options.backend + "' (cpu, cuda, sim)");
}

}  // namespace kvc::engine

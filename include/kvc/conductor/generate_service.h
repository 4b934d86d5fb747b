// kvc.v1.Conductor.Generate: the generation pipeline over gRPC (server streaming,
// callback API: no thread per stream). Messages carry text deltas and token ids; the
// last has finish_reason and usage. Errors before the first token end the RPC with
// a status carrying the reason (INVALID_ARGUMENT, NOT_FOUND, RESOURCE_EXHAUSTED,
// UNAVAILABLE...); after it, a last message with finish_reason "error" and an
// ErrorDetail. A client that cancels has its request cancelled on both workers.
// Thread-safe.
#pragma once

#include <string>

#include "kvc/conductor/pipeline.h"
#include "kvc/conductor/served_model.h"
#include "kvc/v1/conductor.grpc.pb.h"

namespace kvc::conductor {

// The OpenAI-shaped request of a GenerateRequest. INVALID_ARGUMENT naming the field
// for bad values; NOT_FOUND (reason MODEL_NOT_FOUND) for another model id.
[[nodiscard]] StatusOr<openai::GenerationRequest> FromGenerateRequest(
    const kvc::v1::GenerateRequest& request, const std::string& served_model);

class GenerateServiceImpl final : public kvc::v1::Conductor::CallbackService {
 public:
  // All borrowed; must outlive the service. `api_keys` empty = open.
  GenerateServiceImpl(Pipeline& pipeline, const ServedModel& model, ConductorCounters& counters,
                      std::vector<std::string> api_keys);

  grpc::ServerWriteReactor<kvc::v1::GenerateResponse>* Generate(
      grpc::CallbackServerContext* context, const kvc::v1::GenerateRequest* request) override;

 private:
  Pipeline& pipeline_;
  const ServedModel& model_;
  ConductorCounters& counters_;
  const std::vector<std::string> api_keys_;
};

}  // namespace kvc::conductor

// The conductor's HTTP front door: the OpenAI-compatible API plus /health and
// /metrics, routed onto an http::HttpServer. Request parsing, validation, API
// keys, model checks and node availability are handled here; the generation
// pipeline itself (placement, prefill, decode streaming) arrives with the serving
// issue, so a valid generation request answers 503 when no prefill or decode node
// is up and 501 otherwise. Thread-safe.
#pragma once

#include "kvc/common/clock.h"
#include "kvc/common/metrics.h"
#include "kvc/conductor/admin_service.h"
#include "kvc/conductor/node_registry.h"
#include "kvc/conductor/options.h"
#include "kvc/http/server.h"

namespace kvc::conductor {

struct FrontendContext {
  const ConductorOptions* options = nullptr;  // all borrowed; must outlive the server
  NodeRegistry* registry = nullptr;
  ConductorCounters* counters = nullptr;
  MetricsRegistry* metrics = nullptr;
  const Clock* clock = nullptr;
};

// Adds every route to `server`. REQUIRES: all context pointers set.
void RegisterHttpRoutes(http::HttpServer& server, FrontendContext context);

}  // namespace kvc::conductor

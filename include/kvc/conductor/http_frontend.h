// The conductor's HTTP front door: the OpenAI-compatible API plus /health and
// /metrics, routed onto an http::HttpServer. Parsing, validation, API keys and the
// model check happen here; generation runs on the Pipeline, whose events become a
// Server-Sent-Events stream ("data: {chunk}" ... "data: [DONE]") or one JSON body.
// Errors use the OpenAI error body: 400 bad input (prompt too long included), 401
// bad key, 404 unknown model, 429 + Retry-After on early rejection, 503 +
// Retry-After when no node can serve, 500 otherwise; after the first streamed token
// an error becomes a final `data: {"error": ...}` event. A client that disconnects
// has its request cancelled on both workers. While the pipeline drains (SIGTERM),
// GET /health answers 503 {"status":"draining"} and new requests 503
// `shutting_down`. Thread-safe.
#pragma once

#include "kvc/common/clock.h"
#include "kvc/common/metrics.h"
#include "kvc/conductor/admin_service.h"
#include "kvc/conductor/options.h"
#include "kvc/conductor/pipeline.h"
#include "kvc/conductor/served_model.h"
#include "kvc/http/server.h"
#include "kvc/membership/node_registry.h"

namespace kvc::conductor {

struct FrontendContext {
  const ConductorOptions* options = nullptr;      // all borrowed; must outlive the server
  membership::MembershipView* members = nullptr;  // what /health and /metrics count
  ConductorCounters* counters = nullptr;
  MetricsRegistry* metrics = nullptr;
  const Clock* clock = nullptr;
  const ServedModel* model = nullptr;
  Pipeline* pipeline = nullptr;
};

// Adds every route to `server`. REQUIRES: all context pointers set.
void RegisterHttpRoutes(http::HttpServer& server, FrontendContext context);

// Sets the per-node load gauges (kvc_conductor_node_*) and node counts from the membership.
void UpdateNodeGauges(const membership::MembershipView& members, MetricsRegistry& metrics);

// The HTTP status of a pipeline error (400, 404, 429, 503 or 500).
int HttpStatusOf(const Status& status);

}  // namespace kvc::conductor

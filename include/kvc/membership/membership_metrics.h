// Prometheus gauges of a membership view, for the process that holds the
// registry (kvc-master): how many prefill / decode nodes are up, draining, down.
#pragma once

#include "kvc/common/metrics.h"
#include "kvc/membership/node_registry.h"

namespace kvc::membership {

// Sets kvc_membership_nodes{role="prefill"|"decode",state="up"|"draining"|"down"}
// to the counts in view.List() now (every combination, zeros included) and
// kvc_membership_nodes_total to the number of nodes. Thread-safe.
void ExportMembershipGauges(const MembershipView& view, MetricsRegistry& metrics);

}  // namespace kvc::membership

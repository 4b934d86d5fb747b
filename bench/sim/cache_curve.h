// Prefix-cache hit rate of a trace against one global LRU pool of a given capacity:
// requests are replayed in order; each hits the leading blocks already in the pool,
// then all its blocks are touched. Token-weighted: sum of hit prefix tokens over sum
// of input tokens. Pure function.
#pragma once

#include <cstdint>
#include <vector>

#include "bench/trace/trace.h"

namespace kvc::sim {

// `capacity_tokens` < 0 means unbounded; capacity is rounded down to whole blocks.
double PrefixHitRate(const std::vector<trace::TraceRequest>& requests, int64_t capacity_tokens);

}  // namespace kvc::sim

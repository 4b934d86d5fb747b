#include "bench/sim/cache_curve.h"

#include "bench/sim/block_lru.h"

namespace kvc::sim {

double PrefixHitRate(const std::vector<trace::TraceRequest>& requests, int64_t capacity_tokens) {
  BlockLru pool(capacity_tokens < 0 ? -1 : capacity_tokens / trace::kBlockTokens);
  double hit = 0, total = 0;
  for (const trace::TraceRequest& r : requests) {
    hit += trace::PrefixTokens(r, pool.MatchPrefix(r.hash_ids));
    total += r.input_length;
    pool.Touch(r.hash_ids);
  }
  return total > 0 ? hit / total : 0;
}

}  // namespace kvc::sim

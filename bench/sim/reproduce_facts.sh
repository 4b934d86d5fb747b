#!/usr/bin/env bash
# Reproduces the scheduling/simulator facts of docs/benchmarks.md ("Scheduling and
# simulator") on the synthetic trace. Usage:
#   bench/sim/reproduce_facts.sh [BUILD_DIR (default build)] [TRACE] [OUT_DIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
build="${1:-$root/build}"
trace="${2:-$root/../shared/traces/synthetic_trace.jsonl}"
out="${3:-/tmp/kvc-sim-facts}"
sim="$build/bin/kvc-sim"
[[ -x "$sim" ]] || { echo "no kvc-sim at $sim (build first)" >&2; exit 2; }
[[ -f "$trace" ]] || { echo "no trace at $trace" >&2; exit 2; }
mkdir -p "$out"

echo "== 1. cache hit rate vs global LRU pool capacity"
"$sim" cache-curve --trace "$trace" --capacities 1e4,1e5,1e6,3e6,1e7,5e7,1e8 --out "$out/cache_curve"

echo "== 2. policy comparison, 16 prefill + 16 decode, average TTFT"
for rate in 1 2 3; do
  for policy in random load local-cache global-cache; do
    echo -n "rate x$rate $policy: "
    "$sim" run --trace "$trace" --prefill 16 --decode 16 --policy "$policy" --rate-scale "$rate" | tail -n 1
  done
done

echo "== 3. effective request ratio: disaggregated 28P+4D global-cache vs 32 colocated nodes"
"$sim" sweep --trace "$trace" --prefill 28 --decode 4 \
  --systems global-cache,colocated-none,colocated-prefix,colocated-chunked \
  --rate-scales 1,2,3,4,5,6,7,8 --tbt-slos 0.1,0.2,0.3 --out "$out/sweep"

echo "== 3b. the same disaggregated system with predictive early rejection"
"$sim" sweep --trace "$trace" --prefill 28 --decode 4 --systems global-cache --rejection predictive \
  --rate-scales 1,2,3,4,5,6,7,8 --tbt-slos 0.1,0.2,0.3 --out "$out/sweep_rejection"

echo "== 4. early rejection at overload (28P+4D global-cache, TBT 0.1 s)"
for rejection in none plain predictive; do
  echo -n "rejection $rejection: "
  "$sim" run --trace "$trace" --prefill 28 --decode 4 --rate-scale 8 --rejection "$rejection" | tail -n 1
done

echo "== 5. speed: whole trace, 16P+16D, one core"
taskset -c 0 "$sim" run --trace "$trace" --prefill 16 --decode 16 --out "$out/run" | tail -n 1

#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz in build-fuzz/ (clang, ASan + UBSan,
# only the libraries they link) and runs each for a bounded time on its seed
# corpus (tests/fuzz/corpus/<target>/, not modified: new inputs go to a scratch
# corpus outside the repo).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default 60 s, every target)
#
# Prints per target the executions, the CPU seconds and the result; exits non-zero
# when any target crashed, leaked, timed out on an input or ran out of memory.
# Crash inputs are kept in $KVC_FUZZ_WORK (default /tmp/kvc-fuzz)/<target>/crashes/;
# reproduce one with build-fuzz/fuzz/<target> <file>. KVC_FUZZ_BUILD_ONLY=1 builds
# and stops. One target runs at a time (one libFuzzer process, nice 19).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-60}
shift || true
WORK=${KVC_FUZZ_WORK:-/tmp/kvc-fuzz}
RSS_LIMIT_MB=${KVC_FUZZ_RSS_MB:-2048}

# Same build as scripts/build.sh (ccache), with clang and the fuzzer instrumentation.
# -O1 keeps the clang build short; line tables are enough for stack traces.
start=$(date +%s)
KVC_BUILD_DIR=build-fuzz KVC_BUILD_TARGET=kvc_fuzz_targets scripts/build.sh \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DKVC_FUZZ=ON -DKVC_BUILD_TESTS=OFF -DKVC_CUDA=OFF \
  -DKVC_SANITIZE=fuzzer-no-link,address,undefined \
  "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only" \
  "-DCMAKE_C_FLAGS_RELWITHDEBINFO=-O1 -gline-tables-only"
echo "fuzz: build-fuzz built in $(($(date +%s) - start)) s"
[ "${KVC_FUZZ_BUILD_ONLY:-0}" = "1" ] && exit 0

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cd build-fuzz/fuzz && ls fuzz_* | sort)
fi

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
failed=()
printf '%-22s %10s %8s %8s  %s\n' target execs cpu_s exec/s result
for t in "${targets[@]}"; do
  bin=build-fuzz/fuzz/$t
  [ -x "$bin" ] || { echo "fuzz: no target $t (build-fuzz/fuzz/)" >&2; exit 2; }
  dir=$WORK/$t
  mkdir -p "$dir/corpus" "$dir/crashes"
  seeds=tests/fuzz/corpus/${t#fuzz_}
  log=$dir/last.log
  rc=0
  before=$(awk '{print $16 + $17}' /proc/$$/stat)  # children's CPU ticks
  # -timeout: one input taking longer is a failure (a hang); -rss_limit_mb: memory.
  nice -n 19 "$bin" -max_total_time="$SECONDS_PER_TARGET" -timeout=25 \
    -rss_limit_mb="$RSS_LIMIT_MB" -artifact_prefix="$dir/crashes/" -print_final_stats=1 \
    "$dir/corpus" "$seeds" >"$log" 2>&1 || rc=$?
  after=$(awk '{print $16 + $17}' /proc/$$/stat)
  cpu=$(awk -v a="$after" -v b="$before" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.0f", (a-b)/hz}')
  execs=$(sed -n -E 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -1)
  speed=$(sed -n -E 's/^stat::average_exec_per_sec: *([0-9]+).*/\1/p' "$log" | tail -1)
  result=ok
  if [ "$rc" -ne 0 ]; then
    result="FAILED rc=$rc (log $log, inputs $dir/crashes/)"
    failed+=("$t")
  fi
  printf '%-22s %10s %8s %8s  %s\n' "$t" "${execs:-?}" "$cpu" "${speed:-?}" "$result"
  if [ "$rc" -ne 0 ]; then grep -m1 -A30 -E "ERROR: |runtime error|Timeout|out-of-memory" "$log" || tail -30 "$log"; fi
done
echo "fuzz: $(($(date +%s) - start)) s in all (build and runs)"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi

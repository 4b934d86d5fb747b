#!/usr/bin/env bash
# Measures, in one run and side by side, the limits the transfer engine is judged
# against and the engine itself, then prints the ratios (docs/benchmarks.md):
#   - iperf3 single-stream loopback TCP bandwidth   vs  kvc tcp backend
#   - single-thread memcpy bandwidth                vs  kvc shm (intra-host) backend
# Usage: bench/transfer_vs_limits.sh [BIN_DIR] [SECONDS]
#   BIN_DIR defaults to build/bin; SECONDS (per measurement) defaults to 5.
# Extra engine flags can be passed in KVC_BENCH_FLAGS, e.g. "--connections 4".
set -euo pipefail

BIN_DIR=${1:-build/bin}
SECONDS_EACH=${2:-5}
BENCH="$BIN_DIR/kvc-bench"
FLAGS=${KVC_BENCH_FLAGS:-}
[[ -x "$BENCH" ]] || { echo "no $BENCH (build kvc-bench first)" >&2; exit 2; }
command -v iperf3 >/dev/null || { echo "iperf3 is not installed" >&2; exit 2; }
command -v python3 >/dev/null || { echo "python3 is needed to read JSON" >&2; exit 2; }

calc() { python3 -c "print($1)"; }
json_field() { python3 -c "import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])['$1'])"; }

iperf_bps() {  # up to 3 tries: on a loaded machine the server may not listen in time
  local try port server bps
  for try in 1 2 3; do
    port=$((20000 + RANDOM % 20000))
    iperf3 -s -1 -p "$port" >/dev/null 2>&1 &
    server=$!
    sleep $((try))
    bps=$(iperf3 -c 127.0.0.1 -p "$port" -t "$SECONDS_EACH" -J 2>/dev/null |
          python3 -c "import json,sys; print(json.load(sys.stdin)['end']['sum_received']['bits_per_second']/8)" \
          2>/dev/null) || bps=""
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    if [ -n "$bps" ]; then echo "$bps"; return 0; fi
  done
  echo "iperf3 gave no result in 3 tries" >&2
  return 1
}

engine_bps() {  # backend op block batch threads [extra flags]
  # shellcheck disable=SC2086
  "$BENCH" transfer --loopback --backend "$1" --op "$2" --block-size "$3" --batch "$4" \
    --threads "$5" --duration "$SECONDS_EACH" --verify $FLAGS ${6:-} | tail -n 1
}

memcpy_bps() {  # block batch
  "$BENCH" transfer --memcpy --block-size "$1" --batch "$2" --duration "$SECONDS_EACH" | tail -n 1 |
    json_field bytes_per_second
}

echo "# transfer_vs_limits: $(date -u +%FT%TZ) on $(hostname), $(nproc) cores, ${SECONDS_EACH}s each"
IPERF=$(iperf_bps) || exit 1
MEMCPY=$(memcpy_bps 1048576 16)
MEMCPY4=$(memcpy_bps 4194304 8)  # same working set as the 4 MB x8 engine lines (2 x 32 MiB)
printf "%-44s %10.3f GB/s\n" "iperf3 single-stream loopback" "$(calc "$IPERF / 1e9")"
printf "%-44s %10.3f GB/s\n" "memcpy single thread (1 MB blocks)" "$(calc "$MEMCPY / 1e9")"
printf "%-44s %10.3f GB/s\n" "memcpy single thread (4 MB blocks x8)" "$(calc "$MEMCPY4 / 1e9")"
echo
printf "%-44s %10s %8s %10s %10s %6s\n" "engine run" "GB/s" "ratio" "ops/s" "p99_us" "errors"
run() {  # label reference backend op block batch threads [extra flags]
  local label=$1 ref=$2 out bps
  out=$(engine_bps "$3" "$4" "$5" "$6" "$7" "${8:-}")
  bps=$(echo "$out" | json_field bytes_per_second)
  printf "%-44s %10.3f %8.2f %10.0f %10.0f %6s\n" "$label" "$(calc "$bps / 1e9")" \
    "$(calc "$bps / $ref")" "$(echo "$out" | json_field ops_per_second)" \
    "$(echo "$out" | json_field p99_us)" "$(echo "$out" | json_field errors)"
}
run "tcp write 1MB x16 (vs iperf3)" "$IPERF" tcp write 1048576 16 1
run "tcp read  1MB x16 (vs iperf3)" "$IPERF" tcp read 1048576 16 1
run "tcp write 4MB x8  (vs iperf3)" "$IPERF" tcp write 4194304 8 1
run "tcp read  4MB x8  (vs iperf3)" "$IPERF" tcp read 4194304 8 1
run "tcp write 64KB x128 (vs iperf3)" "$IPERF" tcp write 65536 128 1
run "shm write 1MB x16 (vs memcpy)" "$MEMCPY" shm write 1048576 16 1
run "shm read  1MB x16 (vs memcpy)" "$MEMCPY" shm read 1048576 16 1
run "shm write 4MB x8  (vs memcpy 4MB)" "$MEMCPY4" shm write 4194304 8 1
run "shm read  4MB x8  (vs memcpy 4MB)" "$MEMCPY4" shm read 4194304 8 1
run "shm write 64KB x128 (vs memcpy)" "$MEMCPY" shm write 65536 128 1
run "shm/cma write 1MB x16 (vs memcpy)" "$MEMCPY" shm write 1048576 16 1 --heap-region
run "shm/cma read  1MB x16 (vs memcpy)" "$MEMCPY" shm read 1048576 16 1 --heap-region
UCX_TLS=tcp run "ucx/tcp write 1MB x16 (vs iperf3)" "$IPERF" ucx write 1048576 16 1

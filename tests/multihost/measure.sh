#!/usr/bin/env bash
# Bandwidth across the multi-host namespaces, every number side by side in one run
# (docs/benchmarks.md, "Across network namespaces"):
#   - iperf3, one TCP stream, h2 -> h1 over the veth/bridge path (the reference);
#   - kvc-bench transfer (TCP backend), initiator in h2, target (`kvc-bench transfer --serve`) in
#     h1: write and read, 1 MiB x 16 and 64 KiB x 128;
#   - kvc-bench store over TCP: kvc-master and one kvc-store in h1, the clients in h2, with the
#     transfer engine reading the same values as the reference (--transfer-reference).
# Usage: tests/multihost/measure.sh [SECONDS per line, default 5]. Needs root and `ip netns`;
# creates its own namespaces (prefix kvc-m-) and removes them on exit.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
export KVC_MH_PREFIX=${KVC_MH_PREFIX:-kvc-m-}
# shellcheck source=tests/multihost/lib.sh
source "$HERE/lib.sh"
SECONDS_PER_LINE=${1:-5}
problem=$(mh_check_prereqs) || mh_die "$problem"
for b in kvc-bench kvc-master kvc-store; do
  [ -x "$MH_BIN_DIR/$b" ] || mh_die "missing $MH_BIN_DIR/$b (build first, or set KVC_BIN_DIR)"
done
command -v iperf3 >/dev/null || mh_die "iperf3 is not installed (scripts/install-deps.sh)"
[ -z "$(mh_leftover_namespaces)" ] || mh_die "namespaces $(mh_leftover_namespaces | xargs) exist: $HERE/cluster.sh net-down with KVC_MH_PREFIX=$KVC_MH_PREFIX"

DIR=$(mktemp -d /tmp/kvc-multihost-measure.XXXXXX)
PIDS=() # servers started in the background with `ip netns exec` directly (it execs: $! is the server)
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}"; do
    mh_wait 5 "pid $p to exit" pid_gone "$p" || kill -9 "$p" 2>/dev/null
  done
  mh_net_down
  [ -z "$(mh_leftover_namespaces)" ] || echo "measure.sh: namespaces left: $(mh_leftover_namespaces | xargs)" >&2
}
pid_gone() { [ -z "$(mh_pid_start "$1")" ]; } # exited (a zombie counts as gone)
trap cleanup EXIT
mh_net_up || exit 1
SERVER=$(mh_ip h1)
ROWS=$DIR/rows.md

row() { echo "| $* |" | tee -a "$ROWS"; }
gbps() { awk -v b="$1" 'BEGIN { printf "%.3f", b / 1e9 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
port_of() { [ -s "$1" ] && cat "$1"; }
wait_port() { mh_wait 30 "port file $1" port_of "$1"; }

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$DIR/load.txt"

# --- iperf3, one stream ---
ip netns exec "$(mh_ns h1)" iperf3 -s -B "$SERVER" -p 5201 >"$DIR/iperf3-server.log" 2>&1 &
PIDS+=($!)
iperf_up() { mh_in h2 bash -c "exec 3<>/dev/tcp/$SERVER/5201" 2>/dev/null; }
mh_wait 10 "iperf3 server" iperf_up || exit 1
mh_in h2 iperf3 -c "$SERVER" -p 5201 -t "$SECONDS_PER_LINE" -J >"$DIR/iperf3.json" ||
  mh_die "iperf3 client failed: $(head -c 300 "$DIR/iperf3.json")"
IPERF=$(jq '.end.sum_received.bits_per_second / 8' "$DIR/iperf3.json")
echo "iperf3 single stream h2 -> h1: $(gbps "$IPERF") GB/s"

# --- kvc-bench transfer, TCP, h2 -> target in h1 ---
ip netns exec "$(mh_ns h1)" "$MH_BIN_DIR/kvc-bench" transfer --serve --backend tcp --listen-address "$SERVER:0" \
  --region-bytes $((16 << 20)) --port-file "$DIR/target.port" >"$DIR/target.log" 2>&1 &
PIDS+=($!)
wait_port "$DIR/target.port" || exit 1
TARGET="$SERVER:$(cat "$DIR/target.port")"
declare -A TRANSFER
# Reads first: they verify the target's pattern, which the write runs overwrite.
for spec in "read 1048576 16" "read 65536 128" "write 1048576 16" "write 65536 128"; do
  read -r op bs batch <<<"$spec"
  out="$DIR/transfer-$op-$bs.txt"
  mh_in h2 "$MH_BIN_DIR/kvc-bench" transfer --target "$TARGET" --backend tcp --op "$op" \
    --block-size "$bs" --batch "$batch" --threads 1 --duration "$SECONDS_PER_LINE" --verify \
    >"$out" 2>&1 || mh_die "kvc-bench transfer $op $bs failed: $(tail -3 "$out")"
  TRANSFER["$op-$bs"]=$(tail -1 "$out")
done

# --- kvc-bench store over TCP: master and node in h1, clients in h2 ---
declare -A STORE
store_round() {
  local vs=$1 keys=$2 tag=$3
  ip netns exec "$(mh_ns h1)" env KVC_TRANSFER_HOST_ID="${MH_PREFIX}h1" "$MH_BIN_DIR/kvc-master" \
    --listen-address "$SERVER:50052" --log-level warn --store-heartbeat-interval-ms 200 \
    >"$DIR/master-$tag.log" 2>&1 &
  local master=$!
  PIDS+=($master)
  mh_wait 10 "kvc-master in h1" mh_in h2 bash -c "exec 3<>/dev/tcp/$SERVER/50052" || return 1
  ip netns exec "$(mh_ns h1)" env KVC_TRANSFER_HOST_ID="${MH_PREFIX}h1" "$MH_BIN_DIR/kvc-store" \
    --listen-address "$SERVER:50081" --transfer-listen-address "$SERVER:0" \
    --master-address "$SERVER:50052" --node-id measure-store --log-level warn \
    --store-dram-bytes $((2 * keys * vs + (64 << 20))) --port-file "$DIR/store-$tag.port" \
    >"$DIR/store-$tag.log" 2>&1 &
  local node=$!
  PIDS+=($node)
  wait_port "$DIR/store-$tag.port" || return 1
  local out="$DIR/store-$tag.txt"
  mh_in h2 env KVC_TRANSFER_HOST_ID="${MH_PREFIX}h2" "$MH_BIN_DIR/kvc-bench" store \
    --master-address "$SERVER:50052" --backend tcp --value-size "$vs" --clients 2 \
    --keys-per-client "$keys" --duration $((2 * SECONDS_PER_LINE)) --transfer-reference \
    >"$out" 2>&1 || mh_log "kvc-bench store $tag failed: $(tail -3 "$out")"
  STORE[$tag]=$(tail -1 "$out")
  kill "$node" "$master"
  mh_wait 5 "store node to exit" pid_gone "$node"
  mh_wait 5 "master to exit" pid_gone "$master"
}
store_round 1048576 256 1m
store_round 65536 2048 64k

echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$DIR/load.txt"
echo
row "measurement | GB/s | ratio | ops/s | p50 / p99 µs"
row "--- | ---: | ---: | ---: | ---"
row "iperf3, one TCP stream h2 → h1 (reference) | $(gbps "$IPERF") | | |"
for key in write-1048576 read-1048576 write-65536 read-65536; do
  j=${TRANSFER[$key]}
  bps=$(echo "$j" | jq .bytes_per_second)
  row "kvc-bench transfer tcp $(echo "$j" | jq -r '"\(.op) \(.block_size / 1024 | floor) KiB × \(.batch)"') (verified: $(echo "$j" | jq .verified), errors $(echo "$j" | jq .errors)) | $(gbps "$bps") | $(ratio "$bps" "$IPERF") × iperf3 | $(echo "$j" | jq '.ops_per_second | floor') | $(echo "$j" | jq -r '"\(.p50_us | floor) / \(.p99_us | floor)"') (per batch)"
done
for tag in 1m 64k; do
  j=${STORE[$tag]:-}
  [ -n "$j" ] && echo "$j" | jq -e . >/dev/null 2>&1 || {
    row "kvc-bench store $tag | failed | | |"
    continue
  }
  get=$(echo "$j" | jq .get_bytes_per_second)
  ref=$(echo "$j" | jq '.transfer_reference_bytes_per_second // 0')
  row "kvc-bench store get, $(echo "$j" | jq -r '"\(.value_size / 1024 | floor) KiB values, \(.clients) clients"') (verified: $(echo "$j" | jq .verified), errors $(echo "$j" | jq .errors)) | $(gbps "$get") | $(ratio "$get" "$ref") × transfer | $(echo "$j" | jq '.get_ops_per_second | floor') | $(echo "$j" | jq -r '"\(.get_p50_us | floor) / \(.get_p99_us | floor)"')"
  row "transfer engine alone on the same values ($(echo "$j" | jq -r .transfer_reference_backend), batch 1; the store's reference) | $(gbps "$ref") | $(ratio "$ref" "$IPERF") × iperf3 | |"
  row "kvc-bench store put, same run | $(gbps "$(echo "$j" | jq .put_bytes_per_second)") | | $(echo "$j" | jq '.put_ops_per_second | floor') | $(echo "$j" | jq -r '"\(.put_p50_us | floor) / \(.put_p99_us | floor)"')"
done
echo
echo "raw outputs: $DIR"

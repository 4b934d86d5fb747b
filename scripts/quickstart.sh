#!/usr/bin/env bash
# Quick start: installs dependencies, builds, starts one process of every kvc
# role on 127.0.0.1 and shows that each answers its health check.
# (The serving issue turns this into a real chat request through the cluster.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh

BIN=build/bin
RUN_DIR=${KVC_RUN_DIR:-$(mktemp -d /tmp/kvc-quickstart-XXXXXX)}
ROLES=(master conductor prefill decode store)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

for role in "${ROLES[@]}"; do
  "$BIN/kvc-$role" --listen-address 127.0.0.1:0 --port-file "$RUN_DIR/$role.port" \
    >"$RUN_DIR/$role.log" 2>&1 &
  pids+=("$!")
done

echo
echo "kvc roles on loopback (logs in $RUN_DIR):"
status=0
for role in "${ROLES[@]}"; do
  for _ in $(seq 100); do [ -s "$RUN_DIR/$role.port" ] && break; sleep 0.1; done
  if [ ! -s "$RUN_DIR/$role.port" ]; then
    echo "kvc-$role did not start; see $RUN_DIR/$role.log"; status=1; continue
  fi
  printf 'kvc-%-10s ' "$role"
  "$BIN/kvcctl" --target "127.0.0.1:$(cat "$RUN_DIR/$role.port")" health || status=1
done
echo
echo "Stopping them (SIGTERM). Serving real requests arrives with the serving issue."
exit $status

#!/usr/bin/env bash
# Quick start: installs dependencies, builds, starts a one-machine kvc cluster with
# kvc-local (kvc-master, kvc-conductor, one kvc-prefill and one kvc-decode on
# 127.0.0.1, the built-in kvc-tiny model), streams a chat completion with curl,
# sends a second request sharing the prefix to show cached_tokens > 0, prints
# `kvcctl stats`, and leaves the cluster running.
#   KVC_RUN_DIR   run dir of the cluster (default /tmp/kvc-quickstart)
#   KVC_HTTP_PORT HTTP port of the API (default 8000)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh

BIN=$PWD/build/bin
RUN_DIR=${KVC_RUN_DIR:-/tmp/kvc-quickstart}
PORT=${KVC_HTTP_PORT:-8000}

"$BIN/kvc-local" down --run-dir "$RUN_DIR" >/dev/null  # a previous quickstart's cluster
"$BIN/kvc-local" up --run-dir "$RUN_DIR" --http-port "$PORT"
URL=http://127.0.0.1:$PORT
"$BIN/kvc-local" status --run-dir "$RUN_DIR"

PROMPT='You are a helpful assistant. Tell me a short story about a lighthouse keeper and a cat.'
body() {  # extra fields
  printf '{"model":"kvc-tiny","messages":[{"role":"user","content":"%s"}],"max_tokens":24,"temperature":0%s}' "$PROMPT" "$1"
}

echo
echo "== 1. streamed chat completion (Server-Sent Events, printed as they arrive) =="
echo "   (kvc-tiny has random weights: the text is not meaningful, the computation is real)"
curl -sN "$URL/v1/chat/completions" -H 'Content-Type: application/json' -d "$(body ',"stream":true,"stream_options":{"include_usage":true}')"
echo
sleep 1  # new KV blocks reach the pool in the background, after the first token
echo "== 2. the same prefix again: prompt_tokens_details.cached_tokens > 0 (served from the pool) =="
curl -s "$URL/v1/chat/completions" -H 'Content-Type: application/json' -d "$(body '')"
echo
echo
echo "== 3. kvcctl stats =="
CONDUCTOR=127.0.0.1:$(cat "$RUN_DIR/conductor.port")
KVC_ADMIN_TOKEN=$(cat "$RUN_DIR/admin.token") "$BIN/kvcctl" --target "$CONDUCTOR" stats
echo
echo "The cluster keeps running at $URL (logs in $RUN_DIR)."
echo "  status: $BIN/kvc-local status --run-dir $RUN_DIR"
echo "  nodes:  KVC_ADMIN_TOKEN=\$(cat $RUN_DIR/admin.token) $BIN/kvcctl --target $CONDUCTOR nodes"
echo "  stop:   $BIN/kvc-local down --run-dir $RUN_DIR"

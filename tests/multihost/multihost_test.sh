#!/usr/bin/env bash
# ctest multihost_cluster_test: a real kvc cluster across four network namespaces
# (tests/multihost/cluster.sh), checked end to end:
#   1. a streamed chat completion through each conductor has the OpenAI shape;
#   2. a long prefix computed by prefill-a is reused by prefill-b (cached_tokens > 0);
#   3. the KV bytes crossed the bridge over TCP (`ss` in the namespaces);
#   4. fault round under a running `kvc-bench replay`: kill -9 a decode, a prefill, a conductor
#      and the master leader; only in-flight requests fail, with a clear error, within a bound;
#      new requests succeed; the restarted process rejoins and serves;
#   5. teardown (trap): no process or namespace left, even on failure.
# Exit 0 = passed, 1 = failed, 77 = skipped (ctest SKIP_RETURN_CODE) with the reason printed.
# Knobs: KVC_MH_FAULTS (default "decode prefill conductor master"), KVC_MH_KEEP=1 (leave the
# cluster up after a failure, for debugging), KVC_MH_REPLAY_SECONDS (10), KVC_MH_SPEEDUP (5).
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)

skip() {
  echo "SKIPPED multihost_cluster_test: $*"
  exit 77
}

# The test's namespaces (kvc-t-h1 ..) and run dir are its own, so it never touches a cluster
# someone started by hand with cluster.sh (kvc-h1 ..).
export KVC_MH_PREFIX=${KVC_MH_PREFIX:-kvc-t-}
# shellcheck source=tests/multihost/lib.sh
source "$HERE/lib.sh"
# shellcheck source=tests/multihost/procs.sh
source "$HERE/procs.sh"

problem=$(mh_check_prereqs) || skip "$problem"
for tool in etcd etcdctl curl jq ss flock; do
  command -v "$tool" >/dev/null || skip "$tool is not installed (scripts/install-deps.sh)"
done
mh_check_binaries || {
  echo "FAILED: binaries or deploy/ files missing (see above)"
  exit 1
}

# One run at a time on this machine (CPU; the namespace names).
exec 9>/run/lock/kvc-multihost-test.lock
flock -w 900 9 || {
  echo "FAILED: another multihost test holds /run/lock/kvc-multihost-test.lock for 15 min"
  exit 1
}
# Leftovers of an earlier run that was killed before its trap ran (we hold the lock, so no
# other test owns them).
if [ -n "$(mh_leftover_namespaces)" ]; then
  mh_log "removing leftover namespaces of an earlier run: $(mh_leftover_namespaces | xargs)"
  mh_net_down
fi

MH_RUN_DIR=$(mktemp -d /tmp/kvc-multihost-test.XXXXXX)
export KVC_MH_RUN_DIR=$MH_RUN_DIR
RESULTS=$MH_RUN_DIR/results.txt
FAILURES=0
CLUSTER="$HERE/cluster.sh"

fail() {
  echo "FAIL: $*" | tee -a "$RESULTS"
  FAILURES=$((FAILURES + 1))
}
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
pass() { echo "ok: $*" | tee -a "$RESULTS"; }
note() { echo "$*" | tee -a "$RESULTS"; }

teardown() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "${KVC_MH_KEEP:-0}" = 1 ] && [ "$FAILURES" -gt 0 ]; then
    echo "KVC_MH_KEEP=1: cluster left up; KVC_MH_PREFIX=$KVC_MH_PREFIX KVC_MH_RUN_DIR=$MH_RUN_DIR $CLUSTER down"
    exit 1
  fi
  "$CLUSTER" down >/dev/null 2>&1 || true
  local leaked
  leaked=$(mh_leftover_namespaces | xargs)
  local name alive=""
  for name in "${MH_START_ORDER[@]}"; do
    [ -n "$(mh_proc_pid "$name")" ] && alive="$alive $name"
  done
  if [ -n "$leaked$alive" ]; then
    echo "FAIL: teardown left namespaces [$leaked] processes [$alive]"
    rc=1
  else
    echo "ok: teardown: no namespace and no process left"
  fi
  if [ "$FAILURES" -gt 0 ] || [ "$rc" -ne 0 ]; then
    echo "--- log tails ($MH_RUN_DIR/logs) ---"
    for f in "$MH_RUN_DIR"/logs/*.log; do
      echo "== $f"
      tail -n 15 "$f"
    done
    echo "multihost_cluster_test: FAILED ($FAILURES failed checks)"
    exit 1
  fi
  echo "=== results ==="
  cat "$RESULTS"
  echo "multihost_cluster_test: PASSED"
  exit 0
}
trap teardown EXIT
trap 'exit 1' INT TERM

# ---------------------------------------------------------------------------------------------
# Client helpers (run in the client namespace).

# mh_stream URL PATH BODY OUT: POSTs BODY, saves the SSE body to OUT.body and the headers to
# OUT.headers; deadline 60 s.
mh_stream() {
  local url=$1 path=$2 body=$3 out=$4
  mh_in "$MH_CLIENT_HOST" curl -sS -N -m 60 -o "$out.body" -D "$out.headers" \
    -H 'Content-Type: application/json' -d "$body" "$url$path"
}
header() { grep -i "^$2:" "$1.headers" | head -1 | cut -d: -f2- | tr -d ' \r'; }
# The JSON events of an SSE body (without [DONE]), one per line.
events() { sed -n 's/^data: //p' "$1.body" | grep -v '^\[DONE\]$'; }

# Drains every prefill (or decode) but $1 on every conductor that lists it, undrains $1.
route_only() {
  local keep=$1 role c n
  role=$(mh_proc_role "$keep")
  for c in conductor-1 conductor-2; do
    for n in "${MH_WORKERS[@]}"; do
      [ "$(mh_proc_role "$n")" = "$role" ] || continue
      mh_node_listed_on "$c" "$n" || continue
      if [ "$n" = "$keep" ]; then
        mh_kvcctl "$c" undrain "$n" >/dev/null
      else
        mh_kvcctl "$c" drain "$n" >/dev/null
      fi
    done
  done
}
undrain_all() {
  local c n
  for c in conductor-1 conductor-2; do
    for n in "${MH_WORKERS[@]}"; do
      mh_node_listed_on "$c" "$n" && mh_kvcctl "$c" undrain "$n" >/dev/null
    done
  done
  return 0
}
mh_node_listed_on() {
  mh_kvcctl "$1" --json nodes 2>/dev/null |
    jq -e --arg n "$2" '[.nodes[]? | select((.nodeId // .node_id) == $n)] | length == 1' >/dev/null
}
# A conductor that lists node $1 as up.
conductor_for() { mh_conductors_listing "$1" | head -1; }

# ---------------------------------------------------------------------------------------------
step_up() {
  local t0 t1
  t0=$(mh_now)
  if ! "$CLUSTER" up; then
    fail "cluster.sh up"
    exit 1
  fi
  t1=$(mh_now)
  pass "cluster up in $(elapsed "$t0" "$t1") s: $("$CLUSTER" status | awk 'NR>1 && NR<=10 {print $1"@"$2}' | xargs)"
}

# 1. Streamed chat completion through each conductor: the OpenAI chunk shape.
check_chat_shape() {
  local c=$1 out=$MH_RUN_DIR/chat-$1 url model
  url=$(mh_conductor_url "$c")
  model=$(mh_in "$MH_CLIENT_HOST" curl -sf -m 10 "$url/v1/models" | jq -r '.data[0].id')
  [ -n "$model" ] && [ "$model" != null ] || {
    fail "$c: GET /v1/models gave no model"
    return
  }
  local body
  body=$(jq -nc --arg m "$model" '{model: $m, stream: true, max_tokens: 8,
    stream_options: {include_usage: true},
    messages: [{role: "user", content: "Hello from the multihost test"}]}')
  if ! mh_stream "$url" /v1/chat/completions "$body" "$out"; then
    fail "$c: chat request failed (curl)"
    return
  fi
  local status ctype
  status=$(head -1 "$out.headers" | awk '{print $2}')
  ctype=$(header "$out" content-type)
  [ "$status" = 200 ] || {
    fail "$c: chat HTTP $status: $(head -c 300 "$out.body")"
    return
  }
  [[ $ctype == text/event-stream* ]] || fail "$c: content-type '$ctype', not text/event-stream"
  [ "$(tail -n 3 "$out.body" | grep -c '^data: \[DONE\]')" = 1 ] ||
    fail "$c: the stream does not end with data: [DONE]"
  # Every chunk: id chatcmpl-*, object chat.completion.chunk, created, model; choices with a
  # delta (or the final usage chunk with empty choices).
  local bad
  bad=$(events "$out" | jq -c --arg m "$model" 'select(
      (.id | type != "string" or startswith("chatcmpl") | not) or
      .object != "chat.completion.chunk" or (.created | type != "number") or .model != $m or
      (.choices | type != "array") or
      ((.choices | length) > 0 and (.choices[0].delta | type != "object")))' | head -3)
  [ -z "$bad" ] || fail "$c: chunks not in the OpenAI shape: $bad"
  local ids finish usage text
  ids=$(events "$out" | jq -r .id | sort -u | wc -l)
  [ "$ids" = 1 ] || fail "$c: $ids different ids in one stream"
  finish=$(events "$out" | jq -r '.choices[0].finish_reason // empty' | tail -1)
  [[ $finish == stop || $finish == length ]] || fail "$c: finish_reason '$finish'"
  usage=$(events "$out" | jq -c 'select(.usage != null) | .usage' | tail -1)
  echo "$usage" | jq -e '.prompt_tokens > 0 and .completion_tokens > 0 and
    .total_tokens == .prompt_tokens + .completion_tokens' >/dev/null ||
    fail "$c: usage chunk wrong or missing: '$usage'"
  [ "$(events "$out" | jq -r '.choices[0].delta.role // empty' | head -1)" = assistant ] ||
    fail "$c: the first delta has no role assistant"
  text=$(events "$out" | jq -j '.choices[0].delta.content // empty')
  count_decode_tokens "$out"
  pass "1. $c ($url): streamed chat, $(events "$out" | wc -l) chunks, finish $finish, usage $usage, prefill $(header "$out" x-kvc-prefill-node) decode $(header "$out" x-kvc-decode-node), ${#text} chars"
}

# Prompt tokens whose KV each decode node received (from the X-Kvc-Decode-Node header and the
# usage of the requests of steps 1 and 2): the floor of what must have crossed over TCP.
declare -A DECODE_TOKENS=([decode-a]=0 [decode-b]=0)
count_decode_tokens() {
  local out=$1 node tokens
  node=$(header "$out" x-kvc-decode-node)
  tokens=$(events "$out" | jq -r 'select(.usage != null) | .usage.prompt_tokens' | tail -1)
  [ -n "$node" ] && [ -n "${DECODE_TOKENS[$node]+x}" ] && [ -n "$tokens" ] &&
    DECODE_TOKENS[$node]=$((DECODE_TOKENS[$node] + tokens))
  return 0
}

# A deterministic 2048-token text (128 blocks) (kvc-tiny's tokenizer is byte-level).
long_prompt() {
  local i
  for ((i = 0; i < 64; i++)); do printf 'block %03d of the shared prefix. ' "$i"; done
}

# 2. A long prefix through prefill-a, then routed to prefill-b: cached_tokens > 0 there.
PREFIX_CACHED=0
check_cross_host_prefix() {
  local prompt body c out url
  prompt=$(long_prompt)
  body=$(jq -nc --arg p "$prompt" '{model: "kvc-tiny", prompt: $p, max_tokens: 4, stream: true,
    stream_options: {include_usage: true}}')
  route_only prefill-a
  c=$(conductor_for prefill-a)
  url=$(mh_conductor_url "$c")
  out=$MH_RUN_DIR/prefix-1
  mh_stream "$url" /v1/completions "$body" "$out" || fail "2. first long-prefix request failed"
  [ "$(header "$out" x-kvc-prefill-node)" = prefill-a ] ||
    fail "2. first request went to prefill '$(header "$out" x-kvc-prefill-node)', not prefill-a"
  count_decode_tokens "$out"
  local first_usage
  first_usage=$(events "$out" | jq -c 'select(.usage != null) | .usage' | tail -1)
  # The prefix is in the pool once prefill-a's background put has ended: wait for the master to
  # list prefill-a as its holder (kvcctl lookup; deadline 20 s).
  lookup_holds() {
    mh_kvcctl "$1" --json lookup --text "$2" | jq -e --arg n "$3" \
      '[.matches[]? | select((.nodeId // .node_id) == $n) | (.matchedBlocks // .matched_blocks // 0)] | (max // 0) > 0'
  }
  mh_wait 20 "the master to list prefill-a as holder of the prefix" lookup_holds "$c" "$prompt" prefill-a ||
    fail "2. the prefix never showed up in the pool: $(mh_kvcctl "$c" --json lookup --text "$prompt" 2>&1 | head -c 300)"
  route_only prefill-b
  c=$(conductor_for prefill-b)
  url=$(mh_conductor_url "$c")
  out=$MH_RUN_DIR/prefix-2
  mh_stream "$url" /v1/completions "$body" "$out" || fail "2. second long-prefix request failed"
  count_decode_tokens "$out"
  undrain_all
  local usage node cached prompt_tokens
  node=$(header "$out" x-kvc-prefill-node)
  usage=$(events "$out" | jq -c 'select(.usage != null) | .usage' | tail -1)
  cached=$(echo "$usage" | jq -r '.prompt_tokens_details.cached_tokens // 0')
  prompt_tokens=$(echo "$usage" | jq -r '.prompt_tokens // 0')
  [ "$node" = prefill-b ] || fail "2. second request went to prefill '$node', not prefill-b"
  if [ "${cached:-0}" -gt 0 ]; then
    PREFIX_CACHED=$cached
    pass "2. prefix crossed hosts: prefill-a (h1) computed it ($first_usage); prefill-b (h2) got cached_tokens $cached of $prompt_tokens from the pool (via $c)"
  else
    fail "2. prefill-b got cached_tokens '$cached' of $prompt_tokens (usage $usage)"
  fi
}

# Bytes received over established TCP sockets of process $2 in host $1 from peers on other
# hosts, excluding the well-known gRPC/etcd ports (so: transfer connections).
tcp_bytes_from_other_hosts() {
  local host=$1 pid=$2 me
  me=$(mh_ip "$host")
  mh_in "$host" ss -tinpH state established 2>/dev/null | awk -v pid="pid=$pid," -v me="$me" '
    /users:/ { keep = 0
      if (index($0, pid) == 0) next
      split($4, peer, ":"); split($3, local_, ":")
      if (peer[1] == me || peer[1] ~ /^127\./) next
      p = peer[2] + 0; l = local_[2] + 0
      if (p == 2379 || p == 50051 || p == 50052 || p == 50061 || p == 50071 || p == 8000) next
      if (l == 2379 || l == 50051 || l == 50052 || l == 50061 || l == 50071 || l == 8000) next
      keep = 1; next }
    keep && /bytes_received:/ { match($0, /bytes_received:[0-9]+/)
      total += substr($0, RSTART + 15, RLENGTH - 15); keep = 0 }
    END { print total + 0 }'
}

# 3. The KV moved between namespaces over TCP: prefill-b read the prefix from h1 over a TCP
# transfer connection; the decode nodes received their KV from the prefill hosts over TCP.
check_tcp_transfer() {
  local kv_per_token=1280 # engine.sim_kv_bytes_per_token (default)
  local b need
  b=$(tcp_bytes_from_other_hosts h2 "$(mh_proc_pid prefill-b)")
  need=$((PREFIX_CACHED * kv_per_token))
  if [ "$need" -gt 0 ] && [ "$b" -ge "$need" ]; then
    pass "3. prefill-b (h2) received $b bytes over TCP transfer connections from other hosts (the $PREFIX_CACHED cached tokens are $need bytes of KV)"
  else
    fail "3. prefill-b (h2) received $b bytes over TCP from other hosts; the cached prefix is $need bytes"
  fi
  local d
  for d in decode-a decode-b; do
    b=$(tcp_bytes_from_other_hosts "$(mh_proc_host "$d")" "$(mh_proc_pid "$d")")
    need=$((DECODE_TOKENS[$d] * kv_per_token * 9 / 10)) # one partial block of slack
    if [ "$need" -eq 0 ]; then
      note "   3. $d served no request of steps 1-2 (nothing to check)"
    elif [ "$b" -ge "$need" ]; then
      pass "3. $d ($(mh_proc_host "$d")) received $b bytes over TCP from the prefill hosts (90 % of the KV of its ${DECODE_TOKENS[$d]} prompt tokens: $need bytes)"
    else
      fail "3. $d ($(mh_proc_host "$d")) received $b bytes over TCP from other hosts, less than the $need bytes of KV of its ${DECODE_TOKENS[$d]} prompt tokens: the KV took another path (shm / cross-memory attach?)"
    fi
  done
}

# ---------------------------------------------------------------------------------------------
# 4. Fault round.
TRACE=${KVC_MH_TRACE:-${KVC_TEST_DATA_DIR:-$MH_ROOT/tests/data}/synthetic_trace.jsonl}
REPLAY_SECONDS=${KVC_MH_REPLAY_SECONDS:-10}
SPEEDUP=${KVC_MH_SPEEDUP:-5}
# Prefill capacity above the replayed load (2 prefill nodes at half the modelled A800 time).
export KVC_MH_SIM_TIME_SCALE=${KVC_MH_SIM_TIME_SCALE:-0.5}
REQUEST_TIMEOUT_S=30 # a request that hangs shows up as a 30 s error, far above the bounds
WAIT_BOUND_S=10      # the longest a failed request may keep its client waiting
RECOVERY_BOUND_S=5   # requests sent this long after the kill must succeed

# Starts one replay per conductor in the client namespace; sets REPLAY_PIDS.
start_replays() {
  local tag=$1 c
  REPLAY_PIDS=()
  for c in conductor-1 conductor-2; do
    ip netns exec "$(mh_ns "$MH_CLIENT_HOST")" "$MH_BIN_DIR/kvc-bench" replay --trace "$TRACE" \
      --url "$(mh_conductor_url "$c")" --model kvc-tiny --speedup "$SPEEDUP" \
      --max-seconds "$REPLAY_SECONDS" --length-scale 0.03125 \
      --request-timeout "$REQUEST_TIMEOUT_S" --no-progress \
      --out "$MH_RUN_DIR/replay-$tag-$c" >"$MH_RUN_DIR/replay-$tag-$c.log" 2>&1 &
    REPLAY_PIDS+=($!)
  done
}
replays_done() {
  local p
  for p in "${REPLAY_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && return 1; done
  return 0
}
wait_replays() {
  if ! mh_wait $((REPLAY_SECONDS + REQUEST_TIMEOUT_S + 30)) "the replays to finish" replays_done; then
    fail "4. replay did not finish within its deadline"
    kill "${REPLAY_PIDS[@]}" 2>/dev/null
  fi
  local p
  for p in "${REPLAY_PIDS[@]}"; do wait "$p" 2>/dev/null; done
}

# Something is running on process $1 right now (condition to kill it mid-flight).
busy() {
  local victim=$1 role c
  role=$(mh_proc_role "$victim")
  case $role in
    prefill | decode)
      c=$(conductor_for "$victim")
      [ -n "$c" ] || return 1
      mh_kvcctl "$c" --json nodes | jq -e --arg n "$victim" \
        '.nodes[] | select((.nodeId // .node_id) == $n) | ((.load.runningRequests // .load.running_requests // 0) + (.load.queuedRequests // .load.queued_requests // 0)) > 0'
      ;;
    conductor | master)
      mh_in "$MH_CLIENT_HOST" curl -sf -m 2 "$(mh_conductor_url conductor-1)/metrics" |
        awk '/^kvc_conductor_(running|waiting)_requests / {s += $2} END {exit !(s > 0)}'
      ;;
  esac
}

# Reads the replay records of round $1; prints the analysis line, returns 1 on a violation.
# Victim conductor (if $3 is set): requests to it sent after the kill are connection
# failures a load balancer would route elsewhere; they are counted apart.
analyse_round() {
  local tag=$1 t_kill=$2 dead_conductor=${3:-}
  local all=$MH_RUN_DIR/round-$tag.jsonl
  : >"$all"
  local c
  for c in conductor-1 conductor-2; do
    [ -s "$MH_RUN_DIR/replay-$tag-$c/requests.jsonl" ] || {
      fail "4. $tag: replay through $c wrote no records ($(tail -2 "$MH_RUN_DIR/replay-$tag-$c.log"))"
      continue
    }
    jq -c --arg c "$c" '. + {conductor: $c}' "$MH_RUN_DIR/replay-$tag-$c/requests.jsonl" >>"$all"
  done
  jq -s -c --argjson t "$t_kill" --arg dead "$dead_conductor" \
    --argjson bound "$RECOVERY_BOUND_S" '
    def fin: .send_unix_s + .e2e_s;
    def failed: .outcome == "error";
    (map(select(.conductor == $dead and $dead != "" and .send_unix_s > $t))) as $to_dead |
    (map(select((.conductor == $dead and $dead != "" and .send_unix_s > $t) | not))) as $r |
    {
      total: ($r | length),
      failed: ($r | map(select(failed)) | length),
      rejected: ($r | map(select(.outcome == "rejected")) | length),
      in_flight_at_kill: ($r | map(select(.send_unix_s <= $t and fin >= $t)) | length),
      failed_in_flight: ($r | map(select(failed and .send_unix_s <= $t and fin >= $t)) | length),
      failed_before_kill: ($r | map(select(failed and fin < $t)) | length),
      failed_after_kill: ($r | map(select(failed and .send_unix_s > $t)) | length),
      sent_after_bound: ($r | map(select(.send_unix_s > $t + $bound)) | length),
      failed_after_bound: ($r | map(select(failed and .send_unix_s > $t + $bound)) | length),
      unclear_errors: ($r | map(select(failed and (.error | length) == 0)) | length),
      longest_failed_wait_s: ([$r[] | select(failed) | .e2e_s] | max // 0),
      longest_wait_s: ([$r[] | .e2e_s] | max // 0),
      recovery_s: ([$r[] | select(failed and .send_unix_s > $t) | .send_unix_s - $t] | max // 0),
      to_dead_conductor: ($to_dead | length),
      error_kinds: ([$r[] | select(failed) | (.stream_error_code | if . == "" then null else . end) // (.error | .[0:40])] | group_by(.) | map({(.[0]): length}) | add // {})
    }' "$all"
}

fault_round() {
  local kind=$1 victim dead_conductor=""
  case $kind in
    decode) victim=decode-a ;;
    prefill) victim=prefill-a ;;
    conductor)
      victim=conductor-1
      dead_conductor=conductor-1
      ;;
    master) victim=$(mh_master_leader_name) ;;
  esac
  [ -n "$victim" ] || {
    fail "4. $kind: no victim (no master leader?)"
    return
  }
  start_replays "$kind"
  # Kill it while it has work (deadline: the replay's sending window).
  # Early in the replay, so that it keeps sending for longer than the recovery bound after.
  mh_wait 3 "$victim to have work in flight" busy "$victim" ||
    note "   ($kind: $victim showed no work in flight before the deadline; killed anyway)"
  local t_kill
  t_kill=$(mh_now)
  mh_signal_proc "$victim" KILL
  mh_wait 5 "$victim to die" mh_proc_dead "$victim"
  local leader_after=""
  if [ "$kind" = master ]; then
    local t_elect
    if mh_wait 15 "a new master leader" new_leader_not "$victim"; then
      t_elect=$(mh_now)
      leader_after=$(mh_master_leader_name)
      note "   master: $victim killed, $leader_after leads after $(elapsed "$t_kill" "$t_elect") s"
    else
      fail "4. master: no new leader within 15 s of killing $victim"
    fi
  fi
  wait_replays
  local a
  a=$(analyse_round "$kind" "$t_kill" "$dead_conductor")
  # Restart and rejoin.
  local t_restart t_ready
  t_restart=$(mh_now)
  if "$CLUSTER" start "$victim" >>"$MH_RUN_DIR/restart.log" 2>&1; then
    t_ready=$(mh_now)
  else
    fail "4. $kind: restarted $victim did not become ready: $(tail -3 "$MH_RUN_DIR/restart.log")"
    t_ready=""
  fi
  local rejoin="-"
  [ -n "$t_ready" ] && rejoin=$(elapsed "$t_restart" "$t_ready")
  # The restarted process must serve again within the recovery bound of being ready: a
  # conductor whose channel to the old process is still in its reconnect backoff (at most
  # 1 s, kvc/rpc/client.h) fails the first try over to another node, which route_only has
  # drained here, so a try may fail; the bound is what counts.
  local served=no served_after="-" tries=0
  if [ -n "$t_ready" ]; then
    while :; do
      tries=$((tries + 1))
      if serves_again "$victim"; then
        served=yes
        served_after=$(elapsed "$t_ready" "$(mh_now)")
        break
      fi
      awk -v a="$t_ready" -v b="$(mh_now)" -v w="$RECOVERY_BOUND_S" 'BEGIN { exit !(b - a < w) }' ||
        break
      sleep 0.2 # pacing between bounded tries, not synchronisation
    done
  fi
  note "4. fault $kind: kill -9 $victim -> $a; rejoined after restart in ${rejoin} s; serves again: $served (after ${served_after} s, ${tries} tries)"
  echo "$kind $victim $a $rejoin $served" >>"$MH_RUN_DIR/fault-summary.txt"
  # The checks.
  local v
  if ! echo "$a" | jq -e .total >/dev/null 2>&1; then
    fail "4. $kind: could not analyse the replay records"
    return
  fi
  v=$(echo "$a" | jq -r --argjson wb "$WAIT_BOUND_S" '[
      (if .total == 0 then "no requests" else empty end),
      (if .sent_after_bound < 10 then "only \(.sent_after_bound) requests were sent later than the bound after the kill: the recovery was not checked" else empty end),
      (if .failed_before_kill > 0 then "\(.failed_before_kill) requests failed before the kill" else empty end),
      (if .failed_after_bound > 0 then "\(.failed_after_bound) requests sent more than the bound after the kill failed" else empty end),
      (if .unclear_errors > 0 then "\(.unclear_errors) failures without an error message" else empty end),
      (if .longest_failed_wait_s > $wb then "a failed request kept its client waiting \(.longest_failed_wait_s) s" else empty end),
      (if .longest_wait_s >= '"$REQUEST_TIMEOUT_S"' then "a request hung to the client timeout" else empty end)
    ] | join("; ")')
  [ -z "$v" ] || fail "4. $kind ($victim): $v"
  [ "$served" = yes ] || fail "4. $kind: $victim did not serve again after its restart"
  [ -z "$v" ] && [ "$served" = yes ] && pass "4. $kind: only in-flight requests failed; bounds held"
}
new_leader_not() {
  local n
  n=$(mh_master_leader_name)
  [ -n "$n" ] && [ "$n" != "$1" ]
}

# The restarted process does work again.
serves_again() {
  local victim=$1 role out c url
  role=$(mh_proc_role "$victim")
  local body
  body=$(jq -nc '{model: "kvc-tiny", prompt: "serves again?", max_tokens: 4, stream: true}')
  case $role in
    prefill | decode)
      route_only "$victim"
      c=$(conductor_for "$victim")
      [ -n "$c" ] || {
        undrain_all
        return 1
      }
      out=$MH_RUN_DIR/serves-$victim
      mh_stream "$(mh_conductor_url "$c")" /v1/completions "$body" "$out"
      undrain_all
      [ "$(header "$out" "x-kvc-$role-node")" = "$victim" ] && grep -q '^data: \[DONE\]' "$out.body"
      ;;
    conductor)
      out=$MH_RUN_DIR/serves-$victim
      mh_stream "$(mh_conductor_url "$victim")" /v1/completions "$body" "$out" &&
        grep -q '^data: \[DONE\]' "$out.body"
      ;;
    master)
      # A restarted master campaigns again as a standby: it answers health, and a request
      # still completes through the cluster.
      mh_kvcctl "$victim" health >/dev/null || return 1
      out=$MH_RUN_DIR/serves-$victim
      mh_stream "$(mh_conductor_url conductor-1)" /v1/completions "$body" "$out" &&
        grep -q '^data: \[DONE\]' "$out.body"
      ;;
  esac
}

# ---------------------------------------------------------------------------------------------
step_up
check_chat_shape conductor-1
check_chat_shape conductor-2
check_cross_host_prefix
check_tcp_transfer
for kind in ${KVC_MH_FAULTS:-decode prefill conductor master}; do
  fault_round "$kind"
done
note "fault round (bounds: recovery ${RECOVERY_BOUND_S} s, client wait ${WAIT_BOUND_S} s):"
note "$(cat "$MH_RUN_DIR/fault-summary.txt" 2>/dev/null)"
exit 0

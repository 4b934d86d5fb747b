# The processes of the multi-host cluster: where each runs, how it is started (the deploy/
# entry point and config, plus the KVC_* variables a real host would set), when it is ready,
# how it is stopped. Sourced after lib.sh.

# name -> "host role". Prefill and decode of one pair never share a host, so every
# prefill -> decode KV write and every pool read crosses the bridge.
declare -A MH_SPEC=(
  [etcd]="h1 etcd"
  [master-1]="h1 master"
  [master-2]="h2 master"
  [conductor-1]="h1 conductor"
  [conductor-2]="h2 conductor"
  [prefill-a]="h1 prefill"
  [prefill-b]="h2 prefill"
  [decode-a]="h3 decode"
  [decode-b]="h4 decode"
)
MH_START_ORDER=(etcd master-1 master-2 conductor-1 conductor-2 prefill-a prefill-b decode-a decode-b)
MH_WORKERS=(prefill-a prefill-b decode-a decode-b)
MH_CLIENT_HOST=h4 # where the test's clients (curl, kvc-bench replay) run

# Fixed ports, as on real hosts (each namespace has its own port space).
MH_PORT_ETCD=2379
MH_PORT_MASTER=50052
MH_PORT_CONDUCTOR=50051
MH_PORT_HTTP=8000
MH_PORT_PREFILL=50061
MH_PORT_DECODE=50071

# True when kvc-ROLE's --help lists the flag --$2 (cached per role and flag).
declare -A MH_SUPPORTS=()
mh_supports() {
  local key="$1:$2"
  if [ -z "${MH_SUPPORTS[$key]:-}" ]; then
    local help # whole output first: grep -q would end the pipe early (SIGPIPE under pipefail)
    help=$("$MH_BIN_DIR/kvc-$1" --help 2>&1)
    if grep -qE -- "(^|[[:space:]])--$2([[:space:]]|$)" <<<"$help"; then
      MH_SUPPORTS[$key]=yes
    else
      MH_SUPPORTS[$key]=no
    fi
  fi
  [ "${MH_SUPPORTS[$key]}" = yes ]
}

mh_proc_spec() { echo "${MH_SPEC[$1]:?unknown process $1}"; }
mh_proc_host() {
  local s
  s=$(mh_proc_spec "$1")
  echo "${s%% *}"
}
mh_proc_role() {
  local s
  s=$(mh_proc_spec "$1")
  echo "${s##* }"
}

# gRPC address of a process (etcd: its client URL).
mh_proc_address() {
  local host role ip
  read -r host role <<<"$(mh_proc_spec "$1")"
  ip=$(mh_ip "$host")
  case $role in
    etcd) echo "http://$ip:$MH_PORT_ETCD" ;;
    master) echo "$ip:$MH_PORT_MASTER" ;;
    conductor) echo "$ip:$MH_PORT_CONDUCTOR" ;;
    prefill) echo "$ip:$MH_PORT_PREFILL" ;;
    decode) echo "$ip:$MH_PORT_DECODE" ;;
  esac
}
mh_conductor_url() { echo "http://$(mh_ip "$(mh_proc_host "$1")"):$MH_PORT_HTTP"; }
mh_conductor_urls() {
  mh_conductor_url conductor-1
  mh_conductor_url conductor-2
}
mh_etcd_url() { mh_proc_address etcd; }

# Which conductor a worker registers with while membership is per conductor (before the
# shared membership through the master): the "a" workers with conductor-1, "b" with -2.
mh_worker_conductor() {
  case $1 in
    *-a) echo conductor-1 ;;
    *) echo conductor-2 ;;
  esac
}

mh_check_binaries() {
  local b missing=0
  for b in kvc-master kvc-conductor kvc-prefill kvc-decode kvcctl kvc-bench; do
    if [ ! -x "$MH_BIN_DIR/$b" ]; then
      mh_log "missing binary $MH_BIN_DIR/$b (build first, or set KVC_BIN_DIR)"
      missing=1
    fi
  done
  if [ ! -x "$MH_DEPLOY_DIR/container/kvc-entrypoint.sh" ]; then
    mh_log "missing $MH_DEPLOY_DIR/container/kvc-entrypoint.sh (the deploy/ entry point; KVC_DEPLOY_DIR)"
    missing=1
  fi
  command -v etcd >/dev/null || {
    mh_log "etcd is not installed (scripts/install-deps.sh)"
    missing=1
  }
  return $missing
}

mh_make_tokens() {
  local t
  for t in cluster admin; do
    [ -s "$MH_RUN_DIR/$t.token" ] && continue
    (umask 077 && head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$MH_RUN_DIR/$t.token")
  done
}

# The environment of one kvc process: what a deployment of this host would set.
mh_proc_env() {
  local name=$1 host role ip
  read -r host role <<<"$(mh_proc_spec "$name")"
  ip=$(mh_ip "$host")
  echo "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
  echo "HOME=$MH_RUN_DIR"
  echo "KVC_BIN_DIR=$MH_BIN_DIR"
  echo "KVC_CONFIG=$MH_DEPLOY_DIR/config/$role.yaml"
  echo "KVC_CLUSTER_TOKEN_FILE=$MH_RUN_DIR/cluster.token"
  echo "KVC_NODE_ID=$name"
  # The shipped configs bind 0.0.0.0 on fixed ports; what differs per host is the address
  # peers dial (advertise) and where the master is (etcd, or one master address before the
  # roles could follow the etcd leader).
  local follow_etcd=no
  mh_supports "$role" etcd-endpoints && follow_etcd=yes
  [ "$follow_etcd" = yes ] && echo "KVC_ETCD_ENDPOINTS=$(mh_etcd_url)"
  case $role in
    master)
      if mh_supports master advertise-address; then
        echo "KVC_ADVERTISE_ADDRESS=$(mh_proc_address "$name")"
      else # the leader publishes its bound address: bind the routable one
        echo "KVC_LISTEN_ADDRESS=$(mh_proc_address "$name")"
      fi
      ;;
    conductor)
      echo "KVC_ADMIN_TOKEN_FILE=$MH_RUN_DIR/admin.token"
      [ "$follow_etcd" = yes ] || echo "KVC_MASTER_ADDRESS=$(mh_legacy_master_address)"
      ;;
    prefill | decode)
      echo "KVC_ADVERTISE_ADDRESS=$(mh_proc_address "$name")"
      if [ "$follow_etcd" = no ]; then # per-conductor membership (before H17m's change)
        echo "KVC_CONDUCTOR_ADDRESS=$(mh_proc_address "$(mh_worker_conductor "$name")")"
        echo "KVC_MASTER_ADDRESS=$(mh_legacy_master_address)"
      fi
      # Peers dial the transfer target at the advertised host. Binaries without
      # transfer.advertise_address (before H17c's change) would publish 0.0.0.0, so they
      # get the host's address to bind instead.
      mh_supports "$role" transfer-advertise-address || echo "KVC_TRANSFER_LISTEN_ADDRESS=$ip:0"
      # One host identity per namespace: the namespaces share a kernel (one boot id), and
      # without this the transfer engine would treat every peer as same-host (shm).
      echo "KVC_TRANSFER_HOST_ID=$(mh_ns "$host")"
      echo "KVC_ENGINE_BACKEND=${KVC_MH_ENGINE_BACKEND:-sim}"
      echo "KVC_ENGINE_SIM_TIME_SCALE=${KVC_MH_SIM_TIME_SCALE:-1.0}"
      echo "KVC_ENGINE_THREADS=1"
      echo "KVC_STORE_DRAM_BYTES=$((64 << 20))"
      echo "KVC_ENGINE_NUM_BLOCKS=2048" # 32 k tokens of KV (40 MiB with the sim engine)
      ;;
  esac
}

# Roles that cannot follow the etcd leader get one master address: the leader's at the time
# they start (what an operator without etcd-aware roles would configure).
mh_legacy_master_address() {
  local leader
  leader=$(mh_master_leader)
  echo "${leader:-$(mh_proc_address master-1)}"
}

mh_pidfile() { echo "$MH_RUN_DIR/pids/$1"; }
# The pid of a running process of ours ("" when dead or never started). A pid counts only
# while its start time matches the recorded one, so a reused pid is never signalled.
mh_proc_pid() {
  local f pid start
  f=$(mh_pidfile "$1")
  [ -s "$f" ] || return 0
  read -r pid start <"$f"
  [ -n "$pid" ] && [ "$(mh_pid_start "$pid")" = "$start" ] && echo "$pid"
  return 0
}

# Starts one process in its host's namespace (in the background, its own session, log in
# logs/NAME.log). Returns once it is spawned, not once it is ready (mh_wait_ready).
mh_start_proc() {
  local name=$1 host role ns pid
  read -r host role <<<"$(mh_proc_spec "$name")"
  ns=$(mh_ns "$host")
  if [ -n "$(mh_proc_pid "$name")" ]; then
    mh_log "$name is already running"
    return 1
  fi
  local log="$MH_RUN_DIR/logs/$name.log"
  echo "=== start $(date -u +%FT%TZ)" >>"$log"
  if [ "$role" = etcd ]; then
    local ip
    ip=$(mh_ip "$host")
    setsid ip netns exec "$ns" etcd --name mh --data-dir "$MH_RUN_DIR/etcd-data" \
      --listen-client-urls "http://$ip:$MH_PORT_ETCD" \
      --advertise-client-urls "http://$ip:$MH_PORT_ETCD" \
      --listen-peer-urls "http://127.0.0.1:2380" \
      --initial-advertise-peer-urls "http://127.0.0.1:2380" \
      --initial-cluster "mh=http://127.0.0.1:2380" </dev/null >>"$log" 2>&1 &
  else
    local env=()
    mapfile -t env < <(mh_proc_env "$name")
    setsid ip netns exec "$ns" env -i "${env[@]}" \
      "$MH_DEPLOY_DIR/container/kvc-entrypoint.sh" "$role" </dev/null >>"$log" 2>&1 &
  fi
  pid=$!
  # setsid, ip netns exec, env and the entry point all exec: $! is the server itself.
  local start=""
  mh_wait 5 "/proc/$pid of $name" test -r "/proc/$pid/stat"
  start=$(mh_pid_start "$pid")
  echo "$pid $start" >"$(mh_pidfile "$name")"
  mh_log "started $name (pid $pid) in $ns"
}

mh_kvcctl() {
  local target=$1
  shift
  case $target in
    *:*) ;;
    *) target=$(mh_proc_address "$target") ;;
  esac
  KVC_ADMIN_TOKEN=$(cat "$MH_RUN_DIR/admin.token") mh_in "$MH_CLIENT_HOST" \
    "$MH_BIN_DIR/kvcctl" --target "$target" --timeout-ms 2000 "$@"
}

mh_master_leader() {
  mh_in h1 etcdctl --endpoints "$(mh_etcd_url)" --command-timeout=2s get /kvc/master/leader \
    --print-value-only 2>/dev/null | head -1
}
# The process name of the master leader ("" when none).
mh_master_leader_name() {
  local leader n
  leader=$(mh_master_leader)
  for n in master-1 master-2; do
    [ "$leader" = "$(mh_proc_address "$n")" ] && echo "$n"
  done
  return 0
}

mh_http_ok() { mh_in "$MH_CLIENT_HOST" curl -sf -m 2 -o /dev/null "$1"; }

# True when conductor $1 lists node $2 in state "up".
mh_node_up_on() {
  mh_kvcctl "$1" --json nodes 2>/dev/null |
    jq -e --arg n "$2" '[.nodes[]? | select((.nodeId // .node_id) == $n and .state == "up")] | length == 1' \
      >/dev/null
}
# The conductors that list worker $1 as up (one per line).
mh_conductors_listing() {
  local c
  for c in conductor-1 conductor-2; do
    mh_node_up_on "$c" "$1" && echo "$c"
  done
  return 0
}

mh_have_leader() { [ -n "$(mh_master_leader_name)" ]; }
mh_proc_dead() { [ -z "$(mh_proc_pid "$1")" ]; }

# Conductor $1 lists at least one prefill and one decode node up (it can serve). During `up` the
# workers start after the conductors, so this holds only for a restarted conductor; `up` waits
# for the workers themselves.
mh_has_workers() {
  mh_kvcctl "$1" --json nodes 2>/dev/null | jq -e '[.nodes[]? | select(.state == "up") | .role] |
    (map(select(test("PREFILL"))) | length > 0) and (map(select(test("DECODE"))) | length > 0)' \
    >/dev/null
}

# Is process $1 ready: alive, answering health, and (workers) registered up.
mh_ready() {
  local name=$1 role
  role=$(mh_proc_role "$name")
  [ -n "$(mh_proc_pid "$name")" ] || return 1
  case $role in
    etcd) mh_in h1 etcdctl --endpoints "$(mh_etcd_url)" --command-timeout=2s endpoint health ;;
    master) mh_kvcctl "$name" health ;;
    conductor)
      mh_kvcctl "$name" health && mh_http_ok "$(mh_conductor_url "$name")/health" &&
        mh_has_workers "$name"
      ;;
    prefill | decode) mh_kvcctl "$name" health && [ -n "$(mh_conductors_listing "$name")" ] ;;
  esac
}

mh_wait_ready() {
  local name=$1 timeout=$2
  mh_wait "$timeout" "$name ready" mh_ready "$name" || {
    mh_log "$name is not ready; last lines of its log:"
    tail -n 20 "$MH_RUN_DIR/logs/$name.log" >&2
    return 1
  }
}

# Waits (deadline in seconds) until every process is ready and a master leads.
mh_wait_cluster() {
  local timeout=$1 name
  local deadline=$(($(date +%s) + timeout))
  for name in "${MH_START_ORDER[@]}"; do
    mh_wait_ready "$name" $((deadline - $(date +%s) > 1 ? deadline - $(date +%s) : 1)) || return 1
  done
  mh_wait $((deadline - $(date +%s) > 1 ? deadline - $(date +%s) : 1)) "a master leader" \
    mh_have_leader || return 1
}

mh_signal_proc() {
  local name=$1 sig=${2:-KILL} pid
  pid=$(mh_proc_pid "$name")
  [ -n "$pid" ] || {
    mh_log "$name is not running"
    return 1
  }
  kill -s "$sig" "$pid"
}

# Stops every recorded process: workers, then conductors, masters, etcd; SIGTERM, then
# SIGKILL after 5 s each.
mh_stop_all() {
  local i name pid
  [ -d "$MH_RUN_DIR/pids" ] || return 0
  for ((i = ${#MH_START_ORDER[@]} - 1; i >= 0; i--)); do
    name=${MH_START_ORDER[$i]}
    pid=$(mh_proc_pid "$name")
    [ -n "$pid" ] || continue
    kill -TERM "$pid" 2>/dev/null
    if ! mh_wait 5 "$name to exit after SIGTERM" mh_proc_dead "$name"; then
      kill -KILL "$pid" 2>/dev/null
      mh_wait 5 "$name to exit after SIGKILL" mh_proc_dead "$name" || true
    fi
  done
}

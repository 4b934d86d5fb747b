# Shared functions of the multi-host harness (sourced by cluster.sh, multihost_test.sh and
# measure.sh). Network namespaces stand in for hosts: ${MH_PREFIX}h1 .. h4, each with one
# veth into a bridge that lives in its own namespace ${MH_PREFIX}net, addresses
# ${MH_SUBNET}.1 .. .4 (a private /24: no address in the root namespace, no route out).
# Every wait here has a deadline; nothing sleeps to synchronise.

MH_PREFIX=${KVC_MH_PREFIX:-kvc-}
MH_SUBNET=${KVC_MH_SUBNET:-10.87.17}
MH_HOSTS=(h1 h2 h3 h4)
MH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MH_RUN_DIR=${KVC_MH_RUN_DIR:-/tmp/kvc-multihost-$(id -u)}
MH_BIN_DIR=${KVC_BIN_DIR:-$MH_ROOT/build/bin}
MH_DEPLOY_DIR=${KVC_DEPLOY_DIR:-$MH_ROOT/deploy}

mh_log() { printf '[multihost %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
mh_die() {
  mh_log "ERROR: $*"
  exit 1
}

mh_ns() { echo "${MH_PREFIX}$1"; }     # mh_ns h1 -> kvc-h1
mh_ip() { echo "${MH_SUBNET}.${1#h}"; } # mh_ip h3 -> 10.87.17.3
# Runs a command inside host $1's namespace.
mh_in() {
  local host=$1
  shift
  ip netns exec "$(mh_ns "$host")" "$@"
}

mh_now() { date +%s.%N; }

# mh_wait SECONDS WHAT CMD...: runs CMD every 100 ms until it succeeds; fails (returns 1,
# logging WHAT) when SECONDS pass first.
mh_wait() {
  local timeout=$1 what=$2
  shift 2
  local deadline
  deadline=$(($(date +%s%N) + timeout * 1000000000))
  while ! "$@" >/dev/null 2>&1; do
    if (($(date +%s%N) > deadline)); then
      mh_log "timed out after ${timeout}s waiting for: $what"
      return 1
    fi
    sleep 0.1
  done
}

# Prerequisites of creating namespaces; prints the missing one and returns 1.
mh_check_prereqs() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "not root (network namespaces need CAP_SYS_ADMIN)"
    return 1
  fi
  if ! command -v ip >/dev/null || ! ip netns list >/dev/null 2>&1; then
    echo "'ip netns' is not available (iproute2)"
    return 1
  fi
  local probe="${MH_PREFIX}probe$$"
  if ! ip netns add "$probe" 2>/dev/null; then
    echo "'ip netns add' fails here (no permission to create network namespaces)"
    return 1
  fi
  if ! ip -n "$probe" link add mhprobe type bridge 2>/dev/null; then
    ip netns del "$probe" 2>/dev/null
    echo "cannot create a bridge inside a network namespace"
    return 1
  fi
  ip netns del "$probe"
  return 0
}

mh_net_exists() { ip netns list | grep -qw "$(mh_ns net)"; }

# Creates the bridge namespace and the four hosts. Idempotent only from a clean state:
# refuses when any of the namespaces exists already (another run, or a leak to clean with
# `cluster.sh down`).
mh_net_up() {
  local h ns
  for ns in net "${MH_HOSTS[@]}"; do
    if ip netns list | grep -qw "$(mh_ns "$ns")"; then
      mh_log "namespace $(mh_ns "$ns") exists already: run 'tests/multihost/cluster.sh down' first"
      return 1
    fi
  done
  ip netns add "$(mh_ns net)" || return 1
  ip -n "$(mh_ns net)" link add br0 type bridge || return 1
  ip -n "$(mh_ns net)" link set br0 up || return 1
  for h in "${MH_HOSTS[@]}"; do
    ns=$(mh_ns "$h")
    ip netns add "$ns" || return 1
    ip -n "$(mh_ns net)" link add "$h" type veth peer name eth0 netns "$ns" || return 1
    ip -n "$(mh_ns net)" link set "$h" master br0 up || return 1
    ip -n "$ns" link set lo up || return 1
    ip -n "$ns" addr add "$(mh_ip "$h")/24" dev eth0 || return 1
    ip -n "$ns" link set eth0 up || return 1
  done
  # Carrier on every link before anything starts (a veth pair comes up asynchronously).
  for h in "${MH_HOSTS[@]}"; do
    mh_wait 10 "link eth0 of $h up" mh_link_up "$h" || return 1
  done
  mh_log "network up: $(mh_ns net) bridge br0, ${MH_HOSTS[*]} at ${MH_SUBNET}.1-4/24"
}

mh_link_up() { ip -n "$(mh_ns "$1")" -o link show eth0 | grep -q 'state UP'; }

# Kills whatever still runs in our namespaces (by pid, from `ip netns pids`) and deletes
# them. Safe to run any number of times.
mh_net_down() {
  local ns pids
  for ns in "${MH_HOSTS[@]}" net; do
    ns=$(mh_ns "$ns")
    ip netns list | grep -qw "$ns" || continue
    pids=$(ip netns pids "$ns" 2>/dev/null)
    if [ -n "$pids" ]; then
      mh_log "killing leftover processes in $ns: $(echo $pids)"
      kill -9 $pids 2>/dev/null
    fi
  done
  for ns in "${MH_HOSTS[@]}" net; do
    ns=$(mh_ns "$ns")
    ip netns list | grep -qw "$ns" || continue
    # A namespace whose processes are still exiting cannot be freed yet; `del` unmounts
    # the name either way and the kernel frees it once the last process is gone.
    mh_wait 10 "processes of $ns to exit" mh_ns_empty "$ns" || true
    ip netns del "$ns" || mh_log "could not delete namespace $ns"
  done
}

mh_ns_empty() { [ -z "$(ip netns pids "$1" 2>/dev/null)" ]; }

# Leftovers of a run: names of our namespaces that still exist (empty when clean).
mh_leftover_namespaces() {
  local ns
  for ns in "${MH_HOSTS[@]}" net; do
    ip netns list | grep -qw "$(mh_ns "$ns")" && echo "$(mh_ns "$ns")"
  done
}

# Start time of a pid (field 22 of /proc/PID/stat), "" when it does not exist or is a zombie.
mh_pid_start() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
  stat=${stat##*) }
  # shellcheck disable=SC2086
  set -- $stat
  [ "$1" = Z ] || echo "${20}" # a zombie has exited already
}

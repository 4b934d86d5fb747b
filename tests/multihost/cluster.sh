#!/usr/bin/env bash
# A kvc cluster across four network namespaces on one machine (docs/development.md,
# "Multi-host harness"). Needs root and `ip netns`.
#
#   tests/multihost/cluster.sh up        network + etcd + 2 masters + 2 conductors + 2 prefill + 2 decode
#   tests/multihost/cluster.sh status    every process (alive, address), the leader, the nodes
#   tests/multihost/cluster.sh down      stop everything (SIGTERM, then SIGKILL), delete the namespaces
#   tests/multihost/cluster.sh net-up | net-down      only the namespaces and the bridge
#   tests/multihost/cluster.sh kill NAME [SIGNAL]     signal one process (default KILL)
#   tests/multihost/cluster.sh start NAME             (re)start one process and wait until it is ready
#   tests/multihost/cluster.sh exec HOST CMD...       run a command inside host HOST's namespace
#
# Each kvc process is started exactly as a deployment starts it: the entry point
# deploy/container/kvc-entrypoint.sh ROLE with the shipped deploy/config/ROLE.yaml; the
# per-host differences (addresses, host id, node id, tokens from files) go through the KVC_*
# environment variables a real deployment sets. Environment knobs: KVC_BIN_DIR (binaries,
# default build/bin), KVC_DEPLOY_DIR (default deploy/), KVC_MH_RUN_DIR (state and logs,
# default /tmp/kvc-multihost-UID), KVC_MH_PREFIX (namespace prefix, kvc-), KVC_MH_SUBNET
# (first three octets, 10.87.17), KVC_MH_SIM_TIME_SCALE (sim engine, 1.0), KVC_MH_TIMEOUT_S
# (deadline of `up`, 90).
set -uo pipefail
# shellcheck source=tests/multihost/lib.sh
source "$(dirname "$0")/lib.sh"
# shellcheck source=tests/multihost/procs.sh
source "$(dirname "$0")/procs.sh"

usage() {
  sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
  exit 2
}

cmd_up() {
  local problem
  if ! problem=$(mh_check_prereqs); then mh_die "$problem"; fi
  mh_check_binaries || exit 1
  mkdir -p "$MH_RUN_DIR" && chmod 700 "$MH_RUN_DIR"
  if [ -n "$(mh_leftover_namespaces)" ]; then
    mh_die "namespaces of an earlier run exist ($(mh_leftover_namespaces | xargs)): run '$0 down' first"
  fi
  rm -rf "$MH_RUN_DIR/pids" "$MH_RUN_DIR/etcd-data"
  mkdir -p "$MH_RUN_DIR/pids" "$MH_RUN_DIR/logs"
  mh_make_tokens
  mh_net_up || {
    mh_net_down
    exit 1
  }
  local name
  for name in "${MH_START_ORDER[@]}"; do
    if ! mh_start_proc "$name"; then
      mh_log "start of $name failed; last lines of its log:"
      tail -n 30 "$MH_RUN_DIR/logs/$name.log" >&2
      cmd_down
      exit 1
    fi
    # Roles started later may need the leader's address (mh_legacy_master_address).
    if [ "$name" = master-2 ] && ! mh_wait 30 "a master leader" mh_have_leader; then
      cmd_down
      exit 1
    fi
  done
  if ! mh_wait_cluster "${KVC_MH_TIMEOUT_S:-90}"; then
    cmd_status >&2
    cmd_down
    exit 1
  fi
  mh_log "cluster up; conductors: $(mh_conductor_urls | xargs)"
}

cmd_down() {
  mh_stop_all
  mh_net_down
  local left
  left=$(mh_leftover_namespaces)
  [ -z "$left" ] || mh_die "namespaces left after down: $left"
  mh_log "down (logs stay in $MH_RUN_DIR/logs)"
}

cmd_status() {
  local name host role pid state
  printf '%-12s %-4s %-10s %-8s %-6s %s\n' NAME HOST ROLE PID STATE ADDRESS
  for name in "${MH_START_ORDER[@]}"; do
    read -r host role <<<"$(mh_proc_spec "$name")"
    pid=$(mh_proc_pid "$name")
    state=dead
    [ -n "$pid" ] && state=alive
    printf '%-12s %-4s %-10s %-8s %-6s %s\n' "$name" "$host" "$role" "${pid:--}" "$state" \
      "$(mh_proc_address "$name")"
  done
  mh_net_exists || {
    echo "network: down"
    return 1
  }
  echo "master leader: $(mh_master_leader)"
  local c
  for c in conductor-1 conductor-2; do
    echo "nodes seen by $c:"
    mh_kvcctl "$c" nodes 2>&1 | sed 's/^/  /'
  done
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  net-up)
    problem=$(mh_check_prereqs) || mh_die "$problem"
    mh_net_up || {
      mh_net_down
      exit 1
    }
    ;;
  net-down) mh_net_down ;;
  kill)
    [ $# -ge 2 ] || usage
    mh_signal_proc "$2" "${3:-KILL}"
    ;;
  start)
    [ $# -ge 2 ] || usage
    mh_start_proc "$2" && mh_wait_ready "$2" 60
    ;;
  exec)
    [ $# -ge 3 ] || usage
    host=$2
    shift 2
    mh_in "$host" "$@"
    ;;
  *) usage ;;
esac

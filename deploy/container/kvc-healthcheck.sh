#!/usr/bin/env bash
# Health check of one running kvc role (the image's HEALTHCHECK; also usable by hand).
#
#   kvc-healthcheck.sh [ROLE [HOST:PORT]]
#
# master, prefill, decode, store: grpc.health.v1 Check through `kvcctl health` on the
# role's gRPC address. conductor: HTTP GET /livez on its HTTP address must answer 200
# (alive); conductor-ready: GET /health must (it can place requests: not draining, at
# least one prefill and one decode node up). Plain HTTP only: with http_tls_cert_file
# set, probe the conductor's gRPC health instead (kvc-healthcheck.sh master HOST:PORT).
# master-leader: the master check, and with KVC_ETCD_ENDPOINTS set also that etcd's
# leader key (${KVC_ETCD_PREFIX:-/kvc/master}/leader) names this master's address: the
# readiness probe that routes a Kubernetes Service to the elected leader only.
# ROLE defaults to $KVC_ROLE, else the name of PID 1 (the entrypoint execs kvc-ROLE).
# The address defaults to, in order: KVC_LISTEN_ADDRESS (conductor: KVC_HTTP_ADDRESS and
# KVC_HTTP_PORT), the top-level key in the config file (KVC_CONFIG, else
# /etc/kvc/ROLE.yaml), the role's built-in default; an unspecified host (0.0.0.0, ::)
# is checked on 127.0.0.1. Exit 0 = healthy, 1 = unhealthy, 2 = usage error.
set -euo pipefail

bin_dir="${KVC_BIN_DIR:-/usr/local/bin}"
timeout_s="${KVC_HEALTHCHECK_TIMEOUT_S:-3}"

role="${1:-${KVC_ROLE:-}}"
if [ -z "$role" ] && [ -r /proc/1/comm ]; then
  comm="$(cat /proc/1/comm)"
  role="${comm#kvc-}"
fi

# Top-level scalar `key: value` of the role's YAML config ("" when absent).
config_value() {
  local file="${KVC_CONFIG:-/etc/kvc/$role.yaml}"
  [ -r "$file" ] || return 0
  sed -n -E "s/^$1:[[:space:]]*['\"]?([^'\"#[:space:]]*)['\"]?.*$/\1/p" "$file" | tail -n 1
}

# grpc.health.v1 Check of $1. The role's own KVC_CONFIG (and any kvcctl setting in the
# environment) must not reach kvcctl, which reads KVC_CONFIG as its own config file.
kvcctl_health() {
  env -u KVC_CONFIG -u KVC_TARGET -u KVC_JSON -u KVC_TIMEOUT_MS -u KVC_ADMIN_TOKEN \
    "$bin_dir/kvcctl" --target "$1" --timeout-ms "$((timeout_s * 1000))" health
}

local_host() {
  case "$1" in
    "" | 0.0.0.0 | "::" | "[::]") echo 127.0.0.1 ;;
    *) echo "$1" ;;
  esac
}

# Prints the value of etcd key $1 (through the v3 JSON gateway of the first endpoint of
# KVC_ETCD_ENDPOINTS that answers), "" when the key is absent; fails when none answers.
etcd_get() {
  local key64 body endpoint hostport host port response
  key64="$(printf '%s' "$1" | base64 -w0)"
  body="{\"key\":\"$key64\"}"
  IFS=, read -r -a endpoints <<<"$KVC_ETCD_ENDPOINTS"
  for endpoint in "${endpoints[@]}"; do
    hostport="${endpoint#http://}"
    hostport="${hostport%%/*}"
    host="${hostport%:*}"
    port="${hostport##*:}"
    response="$(timeout "$timeout_s" bash -c '
      exec 3<>"/dev/tcp/$1/$2" || exit 1
      printf "POST /v3/kv/range HTTP/1.0\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" \
        "$1" "${#3}" "$3" >&3
      cat <&3' _ "$host" "$port" "$body" 2>/dev/null)" || continue
    case "$response" in "HTTP/1."?" 200"*) ;; *) continue ;; esac
    printf '%s' "$response" | sed -n -E 's/.*"value":"([^"]*)".*/\1/p' | base64 -d
    return 0
  done
  return 1
}

if [ "$role" = master-leader ]; then
  address="${2:-${KVC_LISTEN_ADDRESS:-$(role=master config_value listen_address)}}"
  [ -n "$address" ] || address=127.0.0.1:50052
  probe="$(local_host "${address%:*}"):${address##*:}"
  kvcctl_health "$probe" >/dev/null || exit 1
  [ -n "${KVC_ETCD_ENDPOINTS:-}" ] || exit 0
  key="${KVC_ETCD_PREFIX:-/kvc/master}/leader"
  if ! leader="$(etcd_get "$key")"; then
    echo "kvc-healthcheck: no etcd endpoint of '$KVC_ETCD_ENDPOINTS' answered" >&2
    exit 1
  fi
  if [ "$leader" != "$address" ]; then
    echo "kvc-healthcheck: standby: $key is '${leader}', this master is $address" >&2
    exit 1
  fi
  exit 0
fi

case "$role" in
  master) default=127.0.0.1:50052 ;;
  prefill) default=127.0.0.1:50061 ;;
  decode) default=127.0.0.1:50071 ;;
  store) default=127.0.0.1:50081 ;;
  conductor | conductor-ready)
    path=/livez
    [ "$role" = conductor-ready ] && path=/health
    if [ -n "${2:-}" ]; then
      address="$2"
    else
      host="${KVC_HTTP_ADDRESS:-$(config_value http_address)}"
      port="${KVC_HTTP_PORT:-$(config_value http_port)}"
      address="$(local_host "${host:-127.0.0.1}"):${port:-8000}"
    fi
    host="${address%:*}"
    port="${address##*:}"
    # Plain HTTP/1.0 over bash's /dev/tcp: the image needs no curl.
    status_line="$(timeout "$timeout_s" bash -c '
      exec 3<>"/dev/tcp/$1/$2" || exit 1
      printf "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n" "$3" "$1" >&3
      head -n 1 <&3' _ "$host" "$port" "$path" 2>/dev/null || true)"
    case "$status_line" in
      "HTTP/1."?" 200"*) exit 0 ;;
      *)
        echo "kvc-healthcheck: conductor http://$address$path: ${status_line:-no answer}" >&2
        exit 1
        ;;
    esac
    ;;
  *)
    echo "kvc-healthcheck: unknown role '$role' (pass ROLE or set KVC_ROLE)" >&2
    exit 2
    ;;
esac

if [ -n "${2:-}" ]; then
  address="$2"
else
  address="${KVC_LISTEN_ADDRESS:-$(config_value listen_address)}"
  address="${address:-$default}"
  address="$(local_host "${address%:*}"):${address##*:}"
fi
kvcctl_health "$address"

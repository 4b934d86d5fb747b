#!/usr/bin/env bash
# The test command: checks the include layers, installs dependencies, builds, runs
# every test with ctest (the layer check runs there again, with its self-test).
# Step 2 rebuilds the unit tests with AddressSanitizer + UBSan and runs them
# (skip with KVC_SKIP_SANITIZE=1). Step 3 builds the libFuzzer targets (build-fuzz/,
# clang) and runs each for KVC_FUZZ_SECONDS (default 15) on its seed corpus
# (scripts/fuzz.sh; skip with KVC_SKIP_FUZZ=1). KVC_TSAN=1 adds a ThreadSanitizer
# pass of the multi-threaded unit tests (opt-in: it still reports known races,
# docs/development.md).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
echo "== include layers (scripts/check_layers.py) =="
python3 scripts/check_layers.py
scripts/build.sh
echo "== ctest (build/) =="
# No retries: a flaky test is a bug to fix, not to run again. The multihost test
# runs alone (RUN_SERIAL); without root or `ip netns` ctest reports it skipped.
ctest --test-dir build --output-on-failure -j"$(nproc)" --timeout 300

if [ "${KVC_SKIP_SANITIZE:-0}" != "1" ]; then
  echo "== sanitizer build (build-asan/, address,undefined): unit tests =="
  # Only the unit tests are built there (target kvc_unit_tests), without CUDA.
  KVC_BUILD_DIR=build-asan KVC_BUILD_TYPE=Debug KVC_BUILD_TARGET=kvc_unit_tests \
    scripts/build.sh -DKVC_SANITIZE=address,undefined -DKVC_CUDA=OFF
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j"$(nproc)" --timeout 600 -L unit
fi

if [ "${KVC_SKIP_FUZZ:-0}" != "1" ]; then
  echo "== fuzz targets (build-fuzz/, libFuzzer + ASan/UBSan), ${KVC_FUZZ_SECONDS:-15} s each =="
  scripts/fuzz.sh "${KVC_FUZZ_SECONDS:-15}"
fi

if [ "${KVC_TSAN:-0}" = "1" ]; then
  echo "== ThreadSanitizer build (build-tsan/): the multi-threaded unit tests =="
  # Target kvc_tsan_tests (list in CMakeLists.txt); suppressions in scripts/tsan.supp
  # cover only code built without TSan (system gRPC, its absl).
  KVC_BUILD_DIR=build-tsan KVC_BUILD_TARGET=kvc_tsan_tests \
    scripts/build.sh -DKVC_SANITIZE=thread -DKVC_CUDA=OFF
  # Each binary runs as a whole (its tests in one process, as TSan sees them best).
  tsan_failed=0
  while read -r binary; do
    echo "-- $(basename "$binary")"
    # UCX's memory hooks (libucm) crash under TSan's interceptors: off here.
    UCX_MEM_EVENTS=no UCX_MEM_MMAP_HOOK_MODE=none UCX_MEM_MALLOC_HOOKS=no \
      TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/scripts/tsan.supp" \
      timeout 900 "$binary" --gtest_brief=1 </dev/null || tsan_failed=1
  done <build-tsan/kvc_tsan_tests.txt
  [ "$tsan_failed" = 0 ] || { echo "ThreadSanitizer pass failed"; exit 1; }
fi

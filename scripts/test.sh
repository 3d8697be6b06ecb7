#!/usr/bin/env bash
# The README's test command: installs what is missing, builds with warnings as errors, runs
# every unit and end-to-end test and every fuzz target (10 s each), then runs the tests again
# in an ASan+UBSan build.
# NETTOOL_SKIP_SANITIZE=1 skips the second pass, NETTOOL_SKIP_FUZZ=1 the fuzzing (for a quick
# local run).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh

jobs=$(nproc)
scripts/build.sh build -DNETTOOL_WERROR=ON
(cd build && ctest --output-on-failure --parallel "$jobs" --timeout 300)

if [[ "${NETTOOL_SKIP_FUZZ:-0}" != 1 ]]; then
  # A clang build of only the parsers (build-fuzz/), the targets run $jobs at a time.
  scripts/fuzz.sh -j "$jobs" 10
fi

if [[ "${NETTOOL_SKIP_SANITIZE:-0}" != 1 ]]; then
  scripts/build.sh build-sanitize -DNETTOOL_WERROR=ON -DNETTOOL_SANITIZE=ON
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  (cd build-sanitize && ctest --output-on-failure --parallel "$jobs" --timeout 300)
fi
